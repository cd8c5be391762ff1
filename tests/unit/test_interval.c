/* test_interval.c: calendar arithmetic behind partition bounds. */
#include "check.h"
#include "common/interval.h"

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
