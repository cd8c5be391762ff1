/* interval.h: partition intervals and durations, and wall-clock calendar
 * arithmetic shared by the compiler (static partitions) and the runtime
 * (premake, coverage of existing data, retention).
 *
 * Times are wall-clock values in the policy's timezone; partmig never converts
 * zones itself.  Bound literals carry the zone name and PostgreSQL resolves
 * them ('2024-01-01 00:00:00 Europe/Berlin'), so DST rules stay PostgreSQL's. */
#ifndef PARTMIG_INTERVAL_H
#define PARTMIG_INTERVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/buf.h"

typedef enum {
    UNIT_NONE = 0,
    UNIT_HOUR,
    UNIT_DAY,
    UNIT_WEEK,
    UNIT_MONTH,
    UNIT_QUARTER,
    UNIT_YEAR,
    UNIT_INTEGER, /* integer range key: count is the step */
} IntervalUnit;

typedef struct Interval {
    IntervalUnit unit;
    int64_t count; /* N in "N months"; the step for UNIT_INTEGER */
} Interval;

/* A wall-clock instant (no zone). */
typedef struct WallTime {
    int year, month, day, hour; /* month 1-12, day 1-31, hour 0-23 */
} WallTime;

/* Parse "N hour(s)|day(s)|week(s)|month(s)|quarter(s)|year(s)" (1 <= N <=
 * 999999, spaces around and between; nothing else); with ALLOW_INTEGER also a
 * bare positive integer of up to 18 digits (an integer range step).  False
 * when the text is anything else. */
bool interval_parse(const char *text, bool allow_integer, Interval *out);

/* "1 month", "3 days", "1 quarter" ... or "" for UNIT_NONE; canonical text
 * used in migration files and policy state. */
void interval_format(Buf *b, Interval iv);
/* Postgres interval literal text, e.g. "1 mon", "3 days", "7 days". */
void interval_pg_format(Buf *b, Interval iv);

/* Days since 1970-01-01 for a civil date, and back. */
int64_t days_from_civil(int y, int m, int d);
void civil_from_days(int64_t z, int *y, int *m, int *d);

/* The years a partition bound may fall in: the "YYYY-MM-DD" text partmig
 * reads and writes has four digits. */
#define WALLTIME_MIN_YEAR 1
#define WALLTIME_MAX_YEAR 9999

/* Parse "YYYY-MM-DD" or "YYYY-MM-DD HH[:MM[:SS]]" (digits only, no sign);
 * false if not a real date in years 1..9999. */
bool walltime_parse(const char *text, WallTime *out);
/* "YYYY-MM-DD HH:00:00" */
void walltime_format(Buf *b, WallTime t);
int walltime_cmp(WallTime a, WallTime b);

/* Largest partition boundary <= t for a time interval.  Boundaries are
 * anchored on calendar units: hours at :00, days at 00:00, weeks on Monday,
 * months/quarters/years on their first day, counted from ANCHOR (the policy's
 * start, or 1970-01-01 when it has none) so "2 months" from 2023-02-01 stays
 * on even-odd months as the user wrote. */
WallTime interval_floor(Interval iv, WallTime anchor, WallTime t);
/* t + n * interval (n may be negative). */
WallTime interval_add(Interval iv, WallTime t, int64_t n);

/* Integer keys: largest boundary <= v, anchored on ANCHOR. */
int64_t interval_floor_int(int64_t step, int64_t anchor, int64_t v);

/* The three above, checked: false (and *OUT untouched) when the arithmetic
 * would overflow, the interval's count is not positive, or a time result
 * leaves years 1..9999.  The unchecked forms clamp to the nearest
 * representable value instead (never undefined behaviour), so callers that
 * compute bounds from untrusted input use these. */
bool interval_floor_checked(Interval iv, WallTime anchor, WallTime t, WallTime *out);
bool interval_add_checked(Interval iv, WallTime t, int64_t n, WallTime *out);
bool interval_floor_int_checked(int64_t step, int64_t anchor, int64_t v, int64_t *out);

/* Integer keys: the upper bound NSTEPS steps above the boundary that holds
 * V (floor(v) + step * nsteps), checked like the above. */
bool interval_int_upper_checked(int64_t step, int64_t anchor, int64_t v, int64_t nsteps, int64_t *out);

/* Parse a decimal integer ("-12", "9223372036854775807"; no spaces, no
 * "+"): false when TEXT is anything else or outside the int64 range. */
bool int64_parse(const char *text, int64_t *out);

/* Default naming template for a unit: "{table}_p{YYYY}_{MM}" for months,
 * "{table}_p{YYYY}q{Q}", "{table}_p{YYYY}", "{table}_p{YYYY}_{MM}_{DD}" (days,
 * weeks), "{table}_p{YYYY}_{MM}_{DD}_{HH}", "{table}_p{N}" (integers). */
const char *naming_default(IntervalUnit unit);
/* Expand a naming template ({table} {YYYY} {MM} {DD} {HH} {Q} {N}) for the
 * partition whose lower bound is LOWER (time) or LOWER_INT (integer). */
void partition_name(Buf *b, const char *tmpl, const char *table, WallTime lower, int64_t lower_int);

#endif
