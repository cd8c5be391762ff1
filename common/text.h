/* text.h: printing text partmig did not write (policy strings, query
 * texts from the server) so that it can neither forge lines nor send
 * terminal escape sequences. */
#ifndef PARTMIG_TEXT_H
#define PARTMIG_TEXT_H

#include <stddef.h>

/* Length of the printable character at S (LEFT > 0 bytes available): 1..4
 * for a UTF-8 sequence encoding no control character (C0, DEL, C1), 0 for a
 * control character or bytes that are not UTF-8. */
size_t utf8_printable_len(const unsigned char *s, size_t left);

/* Copy IN (LEN bytes) to OUT (CAP > 0 bytes, always terminated, cut short
 * when full) with control characters and bytes that are not UTF-8 written
 * as \n, \r, \t or \xHH. */
void text_escape(char *out, size_t cap, const char *in, size_t len);

#endif
