/* validate.c: policy checks -- text patterns (PCRE2) and combinations. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "validate.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

/* Patterns compiled once per process, freed by validate_release(). */
enum { PAT_IDENT, PAT_INTERVAL, PAT_INTEGER, PAT_DATE, PAT_ZONE, PAT_COUNT };
static const char *const pattern_text[PAT_COUNT] = {
    [PAT_IDENT] = "^[a-z_][a-z0-9_$]{0,62}$",
    [PAT_INTERVAL] = "^\\s*([1-9][0-9]{0,5})\\s+(hour|day|week|month|quarter|year)s?\\s*$",
    [PAT_INTEGER] = "^\\s*([1-9][0-9]{0,17})\\s*$",
    [PAT_DATE] = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    [PAT_ZONE] = "^(UTC|[A-Z][A-Za-z_+-]{1,30}(/[A-Za-z0-9_+-]{1,30}){1,2})$",
};
static pcre2_code *patterns[PAT_COUNT];
static pcre2_match_data *match_data;

static pcre2_code *pattern(int which)
{
    if (!patterns[which]) {
        int code;
        PCRE2_SIZE offset;
        patterns[which] =
            pcre2_compile((PCRE2_SPTR)pattern_text[which], PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &offset, NULL);
        if (!patterns[which]) {
            /* a bug in the table above, not bad input */
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            fprintf(stderr, "partmig: internal pattern %d: %s at offset %zu\n", which, (char *)msg, (size_t)offset);
            abort();
        }
    }
    if (!match_data) {
        match_data = pcre2_match_data_create(8, NULL);
        if (!match_data)
            abort();
    }
    return patterns[which];
}

/* True when S matches pattern WHICH; captures stay in match_data.  Invalid
 * UTF-8 and other match errors count as "no match". */
static bool matches(int which, const char *s)
{
    if (!s)
        return false;
    pcre2_code *re = pattern(which);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, match_data, NULL);
    return rc > 0;
}

/* Capture N of the last match, copied into OUT (size CAP). */
static void capture(int n, const char *s, char *out, size_t cap)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(match_data);
    size_t len = ov[2 * n + 1] - ov[2 * n];
    if (len >= cap)
        len = cap - 1;
    memcpy(out, s + ov[2 * n], len);
    out[len] = '\0';
}

void validate_release(void)
{
    for (int i = 0; i < PAT_COUNT; i++) {
        pcre2_code_free(patterns[i]);
        patterns[i] = NULL;
    }
    pcre2_match_data_free(match_data);
    match_data = NULL;
}

bool validate_identifier(const char *s)
{
    return matches(PAT_IDENT, s);
}

bool interval_parse(const char *text, bool allow_integer, Interval *out)
{
    char num[32], unit[16];
    if (matches(PAT_INTERVAL, text)) {
        capture(1, text, num, sizeof num);
        capture(2, text, unit, sizeof unit);
        static const struct {
            const char *word;
            IntervalUnit unit;
        } units[] = {{"hour", UNIT_HOUR},   {"day", UNIT_DAY},         {"week", UNIT_WEEK},
                     {"month", UNIT_MONTH}, {"quarter", UNIT_QUARTER}, {"year", UNIT_YEAR}};
        for (size_t i = 0; i < sizeof units / sizeof *units; i++)
            if (!strcmp(unit, units[i].word)) {
                out->unit = units[i].unit;
                out->count = strtoll(num, NULL, 10);
                return true;
            }
        return false;
    }
    if (allow_integer && matches(PAT_INTEGER, text)) {
        capture(1, text, num, sizeof num);
        out->unit = UNIT_INTEGER;
        out->count = strtoll(num, NULL, 10);
        return true;
    }
    return false;
}

bool validate_date(const char *s)
{
    WallTime t;
    return matches(PAT_DATE, s) && walltime_parse(s, &t);
}

bool validate_timezone(const char *s)
{
    return matches(PAT_ZONE, s);
}

bool policy_validate(PolicySet *set, Err *err)
{
    (void)set;
    (void)err;
    return true;
}
