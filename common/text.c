/* text.c: printing text partmig did not write (policy strings, query
 * texts from the server) so that it can neither forge lines nor send
 * terminal escape sequences. */
#include "text.h"

#include <stdio.h>
#include <string.h>

size_t utf8_printable_len(const unsigned char *s, size_t left)
{
    if (s[0] >= 0x20 && s[0] < 0x7f)
        return 1;
    size_t n;
    unsigned long cp;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const unsigned long shortest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < shortest[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
        return 0;
    return n;
}

void text_escape(char *out, size_t cap, const char *in, size_t len_in)
{
    size_t o = 0;
    const unsigned char *s = (const unsigned char *)in, *end = s + len_in;
    while (s < end) {
        char esc[8];
        size_t n = utf8_printable_len(s, (size_t)(end - s)), len;
        const char *piece;
        if (n) {
            piece = (const char *)s, len = n;
        } else {
            snprintf(esc, sizeof esc, "\\x%02x", *s);
            piece = *s == '\n' ? "\\n" : *s == '\r' ? "\\r" : *s == '\t' ? "\\t" : esc;
            len = strlen(piece), n = 1;
        }
        if (o + len >= cap)
            break;
        memcpy(out + o, piece, len);
        o += len;
        s += n;
    }
    out[o] = '\0';
}
