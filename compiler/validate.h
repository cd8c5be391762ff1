/* validate.h: checks on policy text (identifiers, intervals, dates, zones,
 * templates) and on whole policies.  The only module that uses PCRE2. */
#ifndef PARTMIG_VALIDATE_H
#define PARTMIG_VALIDATE_H

#include <stdbool.h>

#include "../common/interval.h"

/* A safe SQL identifier: ^[a-z_][a-z0-9_]{0,62}$ (anything else is refused,
 * never quoted into shape). */
bool validate_identifier(const char *s);

/* Parse "N hour(s)|day(s)|week(s)|month(s)|quarter(s)|year(s)" (N >= 1); with
 * ALLOW_INTEGER also a bare positive integer (an integer range step).  False
 * when the text is anything else. */
bool interval_parse(const char *text, bool allow_integer, Interval *out);

/* A real calendar date "YYYY-MM-DD". */
bool validate_date(const char *s);

/* "UTC" or an IANA-style Area/City name (letters, digits, _ + - /). */
bool validate_timezone(const char *s);

/* Free the compiled patterns (call once when a command is done). */
void validate_release(void);

#endif
