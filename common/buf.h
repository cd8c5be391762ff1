/* buf.h: a growable string buffer (heap-owned; free with buf_free). */
#ifndef PARTMIG_BUF_H
#define PARTMIG_BUF_H

#include <stddef.h>

#include "arena.h"

typedef struct Buf {
    char *data; /* always NUL-terminated once anything was appended; owned */
    size_t len, cap;
} Buf;

void buf_append(Buf *b, const char *s);
void buf_appendn(Buf *b, const char *s, size_t n);
void buf_putc(Buf *b, char c);
void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(Buf *b);            /* len = 0, keeps memory */
const char *buf_str(const Buf *b); /* "" for an empty buffer */
void buf_free(Buf *b);
/* B's text copied into ARENA, and B freed: the end of building a string
 * that outlives the buffer. */
const char *buf_to_arena(Buf *b, Arena *arena);

#endif
