/* test_interval.c: calendar arithmetic behind partition bounds. */
#include "check.h"
#include "model/interval.h"

static const char *fmt(Buf *b, WallTime t)
{
    buf_reset(b);
    walltime_format(b, t);
    return buf_str(b);
}

int main(void)
{
    Buf b = {0};
    WallTime t, anchor = {1970, 1, 1, 0};
    CHECK(walltime_parse("2024-02-29", &t));
    CHECK(!walltime_parse("2023-02-29", &t));
    CHECK(!walltime_parse("2024-13-01", &t));
    CHECK(!walltime_parse("2024-01-01 10:30", &t));
    CHECK(walltime_parse("2024-01-31 10", &t));

    Interval month = {UNIT_MONTH, 1}, quarter = {UNIT_QUARTER, 1}, week = {UNIT_WEEK, 1}, day = {UNIT_DAY, 1};
    CHECK_STR(fmt(&b, interval_floor(month, anchor, t)), "2024-01-01 00:00:00");
    CHECK_STR(fmt(&b, interval_add(month, interval_floor(month, anchor, t), 1)), "2024-02-01 00:00:00");
    CHECK_STR(fmt(&b, interval_add(month, (WallTime){2024, 1, 1, 0}, -13)), "2022-12-01 00:00:00");
    CHECK_STR(fmt(&b, interval_floor(quarter, anchor, (WallTime){2024, 8, 15, 3})), "2024-07-01 00:00:00");
    CHECK_STR(fmt(&b, interval_floor(week, anchor, (WallTime){2024, 1, 3, 0})), "2024-01-01 00:00:00"); /* Monday */
    CHECK_STR(fmt(&b, interval_floor(day, anchor, (WallTime){2024, 1, 3, 17})), "2024-01-03 00:00:00");
    Interval two_months = {UNIT_MONTH, 2};
    WallTime feb = {2023, 2, 1, 0};
    CHECK_STR(fmt(&b, interval_floor(two_months, feb, (WallTime){2024, 1, 10, 0})), "2023-12-01 00:00:00");
    CHECK(interval_floor_int(1000, 0, 2500) == 2000);
    CHECK(interval_floor_int(1000, 0, -1) == -1000);

    /* parsing: digits only, four-digit years, bigint range */
    CHECK(!walltime_parse("+024-01-01", &t));
    CHECK(!walltime_parse(" 2024-01-01", &t));
    CHECK(!walltime_parse("2024-01-0110", &t)); /* an hour needs its space */
    CHECK(!walltime_parse("10000-01-01", &t));
    CHECK(!walltime_parse("0000-01-01", &t));
    CHECK(walltime_parse("2024-01-01 7", &t) && t.hour == 7);
    CHECK(walltime_parse("9999-12-31 23:00:00", &t));
    int64_t v = 0;
    CHECK(int64_parse("9223372036854775807", &v) && v == INT64_MAX);
    CHECK(int64_parse("-9223372036854775808", &v) && v == INT64_MIN);
    CHECK(!int64_parse("9223372036854775808", &v));
    CHECK(!int64_parse("-9223372036854775809", &v));
    CHECK(!int64_parse("99999999999999999999", &v));
    CHECK(!int64_parse(" 1", &v) && !int64_parse("+1", &v) && !int64_parse("", &v) && !int64_parse("-", &v));
    CHECK(!int64_parse("1x", &v));

    /* checked arithmetic at the limits: exact when representable, false otherwise */
    CHECK(interval_floor_int_checked(100, INT64_MIN, 1000000000000000000LL, &v) &&
          v == 1000000000000000000LL - (int64_t)(((uint64_t)1000000000000000000LL - (uint64_t)INT64_MIN) % 100));
    CHECK(interval_floor_int_checked(100, INT64_MIN, INT64_MAX, &v) && v <= INT64_MAX && INT64_MAX - v < 100);
    CHECK(interval_floor_int_checked(100, INT64_MAX, INT64_MIN + 100, &v) && v == INT64_MIN + 15);
    CHECK(!interval_floor_int_checked(100, INT64_MAX, INT64_MIN, &v));
    CHECK(!interval_floor_int_checked(100, 0, INT64_MIN, &v)); /* the floor would be below INT64_MIN */
    CHECK(!interval_floor_int_checked(0, 0, 5, &v));
    CHECK(interval_floor_int(100, 0, INT64_MIN) == INT64_MIN); /* clamped, never wrapped */
    WallTime r;
    Interval big = {UNIT_YEAR, 999999};
    CHECK(!interval_add_checked(big, (WallTime){2024, 1, 1, 0}, 1, &r));
    CHECK(!interval_add_checked(month, (WallTime){9999, 12, 1, 0}, 1, &r));
    CHECK(interval_add_checked(month, (WallTime){9999, 11, 30, 0}, 1, &r) && r.year == 9999 && r.month == 12);
    CHECK(!interval_add_checked(day, (WallTime){1, 1, 1, 0}, -1, &r));
    CHECK(!interval_add_checked((Interval){UNIT_HOUR, INT64_MAX}, (WallTime){2024, 1, 1, 0}, INT64_MAX, &r));
    CHECK(!interval_floor_checked((Interval){UNIT_WEEK, INT64_MAX / 100}, anchor, (WallTime){2024, 1, 1, 0}, &r));
    CHECK_STR(fmt(&b, interval_add(big, (WallTime){2024, 1, 1, 0}, 1000)), "9999-12-31 23:00:00"); /* clamped */
    CHECK_STR(fmt(&b, interval_add(big, (WallTime){2024, 1, 1, 0}, -1000)), "0001-01-01 00:00:00");

    buf_reset(&b);
    partition_name(&b, naming_default(UNIT_MONTH), "journal_entries", (WallTime){2024, 3, 1, 0}, 0);
    CHECK_STR(buf_str(&b), "journal_entries_p2024_03");
    buf_reset(&b);
    partition_name(&b, naming_default(UNIT_QUARTER), "t", (WallTime){2024, 7, 1, 0}, 0);
    CHECK_STR(buf_str(&b), "t_p2024q3");
    buf_reset(&b);
    interval_format(&b, month);
    CHECK_STR(buf_str(&b), "1 month");
    buf_free(&b);
    return check_report();
}
