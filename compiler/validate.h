/* validate.h: checks on policy text (identifiers, intervals, dates, zones,
 * templates) and on whole policies.  The only module that uses PCRE2. */
#ifndef PARTMIG_VALIDATE_H
#define PARTMIG_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/text.h"
#include "../model/interval.h"

/* A safe SQL identifier (ident_is_plain: anything else is refused, never
 * quoted into shape). */
bool validate_identifier(const char *s);

/* A real calendar date "YYYY-MM-DD". */
bool validate_date(const char *s);

/* "UTC", "GMT" or an IANA Area/City name that PostgreSQL 15 knows (the list
 * in timezones.inc); exact spelling.  Single-word zone names other than UTC
 * and GMT are refused: timestamp input reads them as fixed abbreviations. */
bool validate_timezone(const char *s);

/* NULL when S is a valid time zone, else what is wrong with it. */
const char *validate_timezone_problem(const char *s);

/* Up to three known zone names closest to S (case ignored; the city alone
 * counts: "Berlin" finds "Europe/Berlin"), as "\"A\", \"B\"" into OUT (CAP);
 * returns how many (0: nothing close). */
size_t validate_timezone_suggest(const char *s, char *out, size_t cap);

/* The one of CHOICES (NULL-terminated) closest to WORD within a small edit
 * distance (case ignored), or NULL: "did you mean" for unknown keys. */
const char *validate_closest(const char *word, const char *const *choices);

/* How KEY is written, as an example with its allowed values, for the hint of
 * an error about it: KEY is a path as errors name it ("retention.keep",
 * "indexes[2].columns", "values.eu"); NULL when KEY is not a policy key. */
const char *policy_key_example(const char *key);

/* The line of KEY (a path as above) inside the table constructor of the
 * call CALL ("partition" with its table NAME, or "defaults" with NAME NULL)
 * that starts on CALL_LINE of TEXT (LEN bytes, a Lua policy), or 0 when it
 * cannot be found there (a table built elsewhere, a key from defaults).  For
 * a nested path it is the deepest part the text shows. */
int policy_key_line_in(const char *text, size_t len, int call_line, const char *call, const char *name,
                       const char *key);

/* policy_key_line_in over the policy file PATH (a regular file, read again;
 * 0 when it cannot be read). */
int policy_key_line(const char *path, int call_line, const char *call, const char *name, const char *key);

/* NULL when S is text partmig may print and emit: valid UTF-8 without
 * control characters (C0, DEL, C1); else what is wrong with it ("a control
 * character", "invalid UTF-8"). */
const char *validate_text(const char *s);

/* text_escape (common/text.h): how partmig prints any text that comes from
 * a policy. */

/* Free the compiled patterns (call once when a command is done). */
void validate_release(void);

#endif
