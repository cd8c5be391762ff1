/* interval.c: interval text and wall-clock calendar arithmetic. */
#include "interval.h"

#include <stdio.h>
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

bool walltime_parse(const char *text, WallTime *out)
{
    int y, m, d, h = 0, mi = 0, s = 0, n = 0;
    if (sscanf(text, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || n != 10)
        return false;
    const char *rest = text + n;
    if (*rest) {
        int k = 0;
        if (sscanf(rest, " %2d:%2d:%2d%n", &h, &mi, &s, &k) == 3 && rest[k] == '\0') {
        } else if (sscanf(rest, " %2d:%2d%n", &h, &mi, &k) == 2 && rest[k] == '\0') {
        } else if (sscanf(rest, " %2d%n", &h, &k) == 1 && rest[k] == '\0') {
        } else
            return false;
        if (mi != 0 || s != 0)
            return false; /* bounds are whole hours at the finest */
    }
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m) || h < 0 || h > 23)
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

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
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

WallTime interval_add(Interval iv, WallTime t, int64_t n)
{
    int64_t mon = months_of(iv.unit);
    if (mon) {
        int64_t total = (int64_t)t.year * 12 + (t.month - 1) + mon * iv.count * n;
        WallTime r = t;
        r.year = (int)floordiv(total, 12);
        r.month = (int)(total - (int64_t)r.year * 12) + 1;
        int dim = days_in_month(r.year, r.month);
        if (r.day > dim)
            r.day = dim;
        return r;
    }
    return from_hours(to_hours(t) + hours_of(iv.unit) * iv.count * n);
}

WallTime interval_floor(Interval iv, WallTime anchor, WallTime t)
{
    int64_t mon = months_of(iv.unit);
    if (mon) {
        /* Anchor to the first of the anchor's unit, then step in whole intervals. */
        int64_t step = mon * iv.count;
        int64_t a = (int64_t)anchor.year * 12 + (anchor.month - 1);
        a -= ((a % mon) + mon) % mon; /* quarters and years start on their month */
        int64_t v = (int64_t)t.year * 12 + (t.month - 1);
        int64_t k = floordiv(v - a, step);
        int64_t m = a + k * step;
        WallTime r = {(int)floordiv(m, 12), 0, 1, 0};
        r.month = (int)(m - (int64_t)r.year * 12) + 1;
        return r;
    }
    int64_t step = hours_of(iv.unit) * iv.count;
    int64_t a = to_hours((WallTime){anchor.year, anchor.month, anchor.day, iv.unit == UNIT_HOUR ? anchor.hour : 0});
    if (iv.unit == UNIT_WEEK) {
        /* Weeks start on Monday: 1970-01-05 was a Monday. */
        int64_t days = floordiv(a, 24);
        days -= ((days - 4) % 7 + 7) % 7;
        a = days * 24;
    }
    return from_hours(a + floordiv(to_hours(t) - a, step) * step);
}

int64_t interval_floor_int(int64_t step, int64_t anchor, int64_t v)
{
    return anchor + floordiv(v - anchor, step) * step;
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
