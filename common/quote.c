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
