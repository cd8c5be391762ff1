/* validate.h: checks on policy text (identifiers, intervals, dates, zones,
 * templates) and on whole policies.  The only module that uses PCRE2. */
#ifndef PARTMIG_VALIDATE_H
#define PARTMIG_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/interval.h"

/* A safe SQL identifier: ^[a-z_][a-z0-9_]{0,62}\z (anything else is refused,
 * never quoted into shape; \z: a final newline does not pass). */
bool validate_identifier(const char *s);

/* Parse "N hour(s)|day(s)|week(s)|month(s)|quarter(s)|year(s)" (N >= 1); with
 * ALLOW_INTEGER also a bare positive integer (an integer range step).  False
 * when the text is anything else. */
bool interval_parse(const char *text, bool allow_integer, Interval *out);

/* A real calendar date "YYYY-MM-DD". */
bool validate_date(const char *s);

/* "UTC" or an IANA-style Area/City name (letters, digits, _ + - /). */
bool validate_timezone(const char *s);

/* NULL when S is text partmig may print and emit: valid UTF-8 without
 * control characters (C0, DEL, C1); else what is wrong with it ("a control
 * character", "invalid UTF-8"). */
const char *validate_text(const char *s);

/* Copy IN (LEN bytes) to OUT (CAP > 0 bytes, always terminated, cut short
 * when full)
 * with control characters and bytes that are not UTF-8 written as \n, \r,
 * \t or \xHH: how partmig prints any text that comes from a policy, so that
 * it can neither forge lines nor send terminal escape sequences. */
void text_escape(char *out, size_t cap, const char *in, size_t len);

/* Free the compiled patterns (call once when a command is done). */
void validate_release(void);

#endif
