/* quote.c: SQL identifier and literal quoting. */
#include "quote.h"

static void quote_with(Buf *b, const char *s, char q)
{
    buf_putc(b, q);
    for (; *s; s++) {
        if (*s == q)
            buf_putc(b, q);
        buf_putc(b, *s);
    }
    buf_putc(b, q);
}

void quote_ident(Buf *b, const char *name)
{
    quote_with(b, name, '"');
}

void quote_qualified(Buf *b, const char *schema, const char *name)
{
    quote_ident(b, schema);
    buf_putc(b, '.');
    quote_ident(b, name);
}

void quote_literal(Buf *b, const char *text)
{
    quote_with(b, text, '\'');
}

bool ident_is_plain(const char *s)
{
    if (!s || !((*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
            return false;
    return n <= 63;
}

const char *quote_ident_str(Arena *arena, const char *name)
{
    Buf b = {0};
    quote_ident(&b, name);
    return buf_to_arena(&b, arena);
}

const char *quote_qualified_str(Arena *arena, const char *schema, const char *name)
{
    Buf b = {0};
    quote_qualified(&b, schema, name);
    return buf_to_arena(&b, arena);
}

const char *quote_literal_str(Arena *arena, const char *text)
{
    Buf b = {0};
    quote_literal(&b, text);
    return buf_to_arena(&b, arena);
}
