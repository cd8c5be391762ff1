/* interval.c: interval text and wall-clock calendar arithmetic. */
#include "interval.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *unit_word(IntervalUnit u)
{
    switch (u) {
    case UNIT_HOUR: return "hour";
    case UNIT_DAY: return "day";
    case UNIT_WEEK: return "week";
    case UNIT_MONTH: return "month";
    case UNIT_QUARTER: return "quarter";
    case UNIT_YEAR: return "year";
    default: return "";
    }
}

void interval_format(Buf *b, Interval iv)
{
    if (iv.unit == UNIT_NONE)
        return;
    if (iv.unit == UNIT_INTEGER) {
        buf_printf(b, "%lld", (long long)iv.count);
        return;
    }
    buf_printf(b, "%lld %s%s", (long long)iv.count, unit_word(iv.unit), iv.count == 1 ? "" : "s");
}

void interval_pg_format(Buf *b, Interval iv)
{
    long long n = (long long)iv.count;
    switch (iv.unit) {
    case UNIT_HOUR: buf_printf(b, "%lld hours", n); break;
    case UNIT_DAY: buf_printf(b, "%lld days", n); break;
    case UNIT_WEEK: buf_printf(b, "%lld days", n * 7); break;
    case UNIT_MONTH: buf_printf(b, "%lld mons", n); break;
    case UNIT_QUARTER: buf_printf(b, "%lld mons", n * 3); break;
    case UNIT_YEAR: buf_printf(b, "%lld years", n); break;
    default: buf_printf(b, "%lld", n); break;
    }
}

/* Howard Hinnant's civil-date algorithms (public domain formulation). */
int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yy + (*m <= 2));
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

/* N decimal digits at S (no sign, no space); false otherwise. */
static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool walltime_parse(const char *text, WallTime *out)
{
    int y, m, d, h = 0, mi = 0, s = 0;
    if (!digits(text, 4, &y) || text[4] != '-' || !digits(text + 5, 2, &m) || text[7] != '-' ||
        !digits(text + 8, 2, &d))
        return false;
    const char *rest = text + 10;
    if (*rest) {
        /* " HH", " H", " HH:MM", " HH:MM:SS" (what to_char(..., 'YYYY-MM-DD HH24') and users write) */
        if (*rest++ != ' ')
            return false;
        while (*rest == ' ')
            rest++;
        if (digits(rest, 2, &h))
            rest += 2;
        else if (digits(rest, 1, &h))
            rest += 1;
        else
            return false;
        if (*rest == ':') {
            if (!digits(rest + 1, 2, &mi))
                return false;
            rest += 3;
            if (*rest == ':') {
                if (!digits(rest + 1, 2, &s))
                    return false;
                rest += 3;
            }
        }
        if (*rest)
            return false;
        if (mi != 0 || s != 0)
            return false; /* bounds are whole hours at the finest */
    }
    if (y < WALLTIME_MIN_YEAR || y > WALLTIME_MAX_YEAR || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m) || h > 23)
        return false;
    out->year = y;
    out->month = m;
    out->day = d;
    out->hour = h;
    return true;
}

void walltime_format(Buf *b, WallTime t)
{
    buf_printf(b, "%04d-%02d-%02d %02d:00:00", t.year, t.month, t.day, t.hour);
}

int walltime_cmp(WallTime a, WallTime b)
{
    int64_t x = days_from_civil(a.year, a.month, a.day) * 24 + a.hour;
    int64_t y = days_from_civil(b.year, b.month, b.day) * 24 + b.hour;
    return x < y ? -1 : x > y;
}

/* Floor division for B > 0 (every caller's step is positive). */
static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static WallTime from_hours(int64_t hours)
{
    WallTime t;
    int64_t days = floordiv(hours, 24);
    civil_from_days(days, &t.year, &t.month, &t.day);
    t.hour = (int)(hours - days * 24);
    return t;
}

static int64_t to_hours(WallTime t)
{
    return days_from_civil(t.year, t.month, t.day) * 24 + t.hour;
}

static int64_t months_of(IntervalUnit u)
{
    return u == UNIT_MONTH ? 1 : u == UNIT_QUARTER ? 3 : u == UNIT_YEAR ? 12 : 0;
}

static int64_t hours_of(IntervalUnit u)
{
    return u == UNIT_HOUR ? 1 : u == UNIT_DAY ? 24 : u == UNIT_WEEK ? 24 * 7 : 0;
}

/* A wall time in years 1..9999 with its fields in range: the checked
 * functions take nothing else, so their own arithmetic stays small. */
static bool walltime_ok(WallTime t)
{
    return t.year >= WALLTIME_MIN_YEAR && t.year <= WALLTIME_MAX_YEAR && t.month >= 1 && t.month <= 12 && t.day >= 1 &&
           t.day <= 31 && t.hour >= 0 && t.hour <= 23;
}

/* Months since year 0 -> a wall time on day DAY (clamped to the month), hour HOUR. */
static bool from_months(int64_t total, int day, int hour, WallTime *out)
{
    int64_t y = floordiv(total, 12);
    if (y < WALLTIME_MIN_YEAR || y > WALLTIME_MAX_YEAR)
        return false;
    WallTime r = {(int)y, (int)(total - y * 12) + 1, day, hour};
    int dim = days_in_month(r.year, r.month);
    if (r.day > dim)
        r.day = dim;
    *out = r;
    return true;
}

/* Hours since 1970-01-01 -> a wall time, within years 1..9999. */
static bool from_hours_checked(int64_t hours, WallTime *out)
{
    int64_t lo = days_from_civil(WALLTIME_MIN_YEAR, 1, 1) * 24, hi = days_from_civil(WALLTIME_MAX_YEAR + 1, 1, 1) * 24;
    if (hours < lo || hours >= hi)
        return false;
    *out = from_hours(hours);
    return true;
}

/* The interval's step in months (MON) or hours (HOURS); false when it has
 * none or it overflows. */
static bool step_of(Interval iv, int64_t *mon, int64_t *hours)
{
    *mon = *hours = 0;
    if (iv.count <= 0)
        return false;
    if (months_of(iv.unit))
        return !__builtin_mul_overflow(months_of(iv.unit), iv.count, mon);
    if (hours_of(iv.unit))
        return !__builtin_mul_overflow(hours_of(iv.unit), iv.count, hours);
    return false;
}

bool interval_add_checked(Interval iv, WallTime t, int64_t n, WallTime *out)
{
    int64_t mon, hours, delta, total;
    if (!walltime_ok(t) || !step_of(iv, &mon, &hours))
        return false;
    if (mon) {
        if (__builtin_mul_overflow(mon, n, &delta) ||
            __builtin_add_overflow((int64_t)t.year * 12 + (t.month - 1), delta, &total))
            return false;
        return from_months(total, t.day, t.hour, out);
    }
    if (__builtin_mul_overflow(hours, n, &delta) || __builtin_add_overflow(to_hours(t), delta, &total))
        return false;
    return from_hours_checked(total, out);
}

bool interval_floor_checked(Interval iv, WallTime anchor, WallTime t, WallTime *out)
{
    int64_t mon, step, a, k, m;
    if (!walltime_ok(anchor) || !walltime_ok(t) || !step_of(iv, &mon, &step))
        return false;
    if (mon) {
        /* Anchor to the first of the anchor's unit, then step in whole intervals. */
        int64_t unit = months_of(iv.unit);
        step = mon;
        a = (int64_t)anchor.year * 12 + (anchor.month - 1);
        a -= ((a % unit) + unit) % unit; /* quarters and years start on their month */
        int64_t v = (int64_t)t.year * 12 + (t.month - 1);
        k = floordiv(v - a, step);
        if (__builtin_mul_overflow(k, step, &m) || __builtin_add_overflow(a, m, &m))
            return false;
        return from_months(m, 1, 0, out);
    }
    a = to_hours((WallTime){anchor.year, anchor.month, anchor.day, iv.unit == UNIT_HOUR ? anchor.hour : 0});
    if (iv.unit == UNIT_WEEK) {
        /* Weeks start on Monday: 1970-01-05 was a Monday. */
        int64_t days = floordiv(a, 24);
        days -= ((days - 4) % 7 + 7) % 7;
        a = days * 24;
    }
    k = floordiv(to_hours(t) - a, step);
    if (__builtin_mul_overflow(k, step, &m) || __builtin_add_overflow(a, m, &m))
        return false;
    return from_hours_checked(m, out);
}

/* Clamp: the nearest end of years 1..9999 in the direction the result went. */
static WallTime clamp_walltime(bool up)
{
    return up ? (WallTime){WALLTIME_MAX_YEAR, 12, 31, 23} : (WallTime){WALLTIME_MIN_YEAR, 1, 1, 0};
}

WallTime interval_add(Interval iv, WallTime t, int64_t n)
{
    WallTime r;
    int64_t mon, hours;
    if (interval_add_checked(iv, t, n, &r))
        return r;
    if (n == 0 || !walltime_ok(t) || !step_of(iv, &mon, &hours))
        return t; /* no step (or no valid time): nothing to move */
    return clamp_walltime(n > 0);
}

WallTime interval_floor(Interval iv, WallTime anchor, WallTime t)
{
    WallTime r;
    int64_t mon, hours;
    if (interval_floor_checked(iv, anchor, t, &r))
        return r;
    if (!walltime_ok(anchor) || !walltime_ok(t) || !step_of(iv, &mon, &hours))
        return t;
    return clamp_walltime(false);
}

bool interval_floor_int_checked(int64_t step, int64_t anchor, int64_t v, int64_t *out)
{
    if (step <= 0)
        return false;
    /* The distance between two int64 values always fits a uint64, and the
     * result lies in (v - step, v]: compute the remainder unsigned, then
     * step back from v, so only a result below INT64_MIN fails. */
    uint64_t ustep = (uint64_t)step;
    if (v >= anchor) {
        uint64_t rem = ((uint64_t)v - (uint64_t)anchor) % ustep;
        *out = (int64_t)((uint64_t)v - rem); /* >= anchor: representable */
        return true;
    }
    uint64_t rem = ((uint64_t)anchor - (uint64_t)v) % ustep;
    if (rem == 0) {
        *out = v;
        return true;
    }
    return !__builtin_sub_overflow(v, (int64_t)(ustep - rem), out);
}

int64_t interval_floor_int(int64_t step, int64_t anchor, int64_t v)
{
    int64_t r;
    if (interval_floor_int_checked(step, anchor, v, &r))
        return r;
    return step <= 0 ? v : INT64_MIN;
}

bool int64_parse(const char *text, int64_t *out)
{
    const char *p = text + (*text == '-');
    if (!*p)
        return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return false;
    errno = 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (errno == ERANGE || *end)
        return false;
    *out = (int64_t)v;
    return true;
}

const char *naming_default(IntervalUnit unit)
{
    switch (unit) {
    case UNIT_HOUR: return "{table}_p{YYYY}_{MM}_{DD}_{HH}";
    case UNIT_DAY:
    case UNIT_WEEK: return "{table}_p{YYYY}_{MM}_{DD}";
    case UNIT_MONTH: return "{table}_p{YYYY}_{MM}";
    case UNIT_QUARTER: return "{table}_p{YYYY}q{Q}";
    case UNIT_YEAR: return "{table}_p{YYYY}";
    case UNIT_INTEGER: return "{table}_p{N}";
    default: return "{table}_{N}";
    }
}

void partition_name(Buf *b, const char *tmpl, const char *table, WallTime lower, int64_t lower_int)
{
    for (const char *p = tmpl; *p;) {
        if (*p == '{') {
            const char *e = strchr(p, '}');
            if (e) {
                size_t n = (size_t)(e - p - 1);
                const char *k = p + 1;
                if (n == 5 && !strncmp(k, "table", n))
                    buf_append(b, table);
                else if (n == 4 && !strncmp(k, "YYYY", n))
                    buf_printf(b, "%04d", lower.year);
                else if (n == 2 && !strncmp(k, "MM", n))
                    buf_printf(b, "%02d", lower.month);
                else if (n == 2 && !strncmp(k, "DD", n))
                    buf_printf(b, "%02d", lower.day);
                else if (n == 2 && !strncmp(k, "HH", n))
                    buf_printf(b, "%02d", lower.hour);
                else if (n == 1 && *k == 'Q')
                    buf_printf(b, "%d", (lower.month - 1) / 3 + 1);
                else if (n == 1 && *k == 'N')
                    buf_printf(b, "%lld", (long long)lower_int);
                else
                    buf_appendn(b, p, n + 2);
                p = e + 1;
                continue;
            }
        }
        buf_putc(b, *p++);
    }
}

bool interval_int_upper_checked(int64_t step, int64_t anchor, int64_t v, int64_t nsteps, int64_t *out)
{
    int64_t floor, span, up;
    if (nsteps < 0 || !interval_floor_int_checked(step, anchor, v, &floor) ||
        __builtin_mul_overflow(step, nsteps, &span) || __builtin_add_overflow(floor, span, &up))
        return false;
    *out = up;
    return true;
}

/* The digits at *P (first not 0, at most MAX of them) as a number, *P moved
 * past them; -1 when there are none or too many. */
static int64_t take_count(const char **p, int max)
{
    const char *s = *p;
    if (*s < '1' || *s > '9')
        return -1;
    int64_t v = 0;
    int n = 0;
    for (; *s >= '0' && *s <= '9'; s++, n++) {
        if (n == max)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *p = s;
    return v;
}

bool interval_parse(const char *text, bool allow_integer, Interval *out)
{
    static const struct {
        const char *word;
        IntervalUnit unit;
    } units[] = {{"hour", UNIT_HOUR},   {"day", UNIT_DAY},         {"week", UNIT_WEEK},
                 {"month", UNIT_MONTH}, {"quarter", UNIT_QUARTER}, {"year", UNIT_YEAR}};
    if (!text)
        return false;
    const char *p = text;
    while (*p == ' ')
        p++;
    const char *digits = p;
    int64_t n = take_count(&p, 6);
    if (n > 0 && *p == ' ') {
        while (*p == ' ')
            p++;
        for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
            size_t len = strlen(units[i].word);
            if (strncmp(p, units[i].word, len))
                continue;
            const char *q = p + len;
            if (*q == 's')
                q++;
            while (*q == ' ')
                q++;
            if (*q)
                return false;
            out->unit = units[i].unit;
            out->count = n;
            return true;
        }
        return false;
    }
    if (!allow_integer)
        return false;
    p = digits;
    n = take_count(&p, 18);
    while (n > 0 && *p == ' ')
        p++;
    if (n <= 0 || *p)
        return false;
    out->unit = UNIT_INTEGER;
    out->count = n;
    return true;
}
