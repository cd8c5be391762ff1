/* sql_text.c: small SQL text helpers the conversion's files share --
 * column lists, key tuples as parameters, and reading a
 * text[] value the server printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/quote.h"
#include "convert_internal.h"

const char *sql_column_list(Arena *a, const char *const *names, int n, const char *prefix)
{
    Buf b = {0};
    for (int i = 0; i < n; i++) {
        if (i)
            buf_append(&b, ", ");
        buf_append(&b, prefix);
        quote_ident(&b, names[i]);
    }
    const char *s = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return s;
}

const char *sql_key_params(Arena *a, const char *const *types, int n, int first)
{
    Buf b = {0};
    buf_putc(&b, '(');
    for (int i = 0; i < n; i++)
        buf_printf(&b, "%s$%d::%s", i ? ", " : "", first + i, types[i]);
    buf_putc(&b, ')');
    const char *s = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return s;
}

bool sql_parse_text_array(const char *text, Arena *a, const char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    size_t len = strlen(text);
    if (len < 2 || text[0] != '{' || text[len - 1] != '}')
        return false;
    int cap = 0;
    const char *s = text + 1;
    Buf b = {0};
    while (*s && *s != '}') {
        buf_reset(&b);
        bool quoted = *s == '"', null = false;
        if (quoted) {
            for (s++; *s && *s != '"'; s++) {
                if (*s == '\\' && s[1])
                    s++;
                buf_putc(&b, *s);
            }
            if (*s == '"')
                s++;
        } else {
            while (*s && *s != ',' && *s != '}')
                buf_putc(&b, *s++);
            null = !strcmp(buf_str(&b), "NULL");
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            *out = arena_grow(a, *out, (size_t)*n, (size_t)cap, sizeof **out);
        }
        (*out)[(*n)++] = null ? NULL : arena_strdup(a, buf_str(&b));
        if (*s == ',')
            s++;
    }
    buf_free(&b);
    return true;
}
