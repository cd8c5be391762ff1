/* test_partitions.c: bounds, names and DDL of range, hash, list partitions. */
#include "check.h"
#include "model/partitions.h"

static Policy range_policy(void)
{
    Policy p;
    policy_defaults(&p);
    p.table = "journal_entries";
    p.column = "created_at";
    p.interval = (Interval){UNIT_MONTH, 1};
    return p;
}

static void range_time(void)
{
    Arena a = {0};
    Err err;
    err_clear(&err);
    Policy p = range_policy();
    PartitionSpec *ps;
    int n;
    CHECK(partitions_range(&p, "2024-01-15", "2024-04-01", &a, &ps, &n, &err));
    CHECK(n == 3);
    CHECK_STR(ps[0].name, "journal_entries_p2024_01");
    CHECK_STR(ps[2].name, "journal_entries_p2024_03");
    CHECK_STR(ps[0].bound_sql, "FOR VALUES FROM ('2024-01-01 00:00:00 UTC') TO ('2024-02-01 00:00:00 UTC')");
    Buf b = {0};
    partition_create_sql(&b, &p, "journal_entries", &ps[0]);
    CHECK_STR(buf_str(&b), "CREATE TABLE IF NOT EXISTS \"public\".\"journal_entries_p2024_01\" PARTITION OF "
                           "\"public\".\"journal_entries\" FOR VALUES FROM ('2024-01-01 00:00:00 UTC') TO "
                           "('2024-02-01 00:00:00 UTC');\n");

    /* daily, other zone, anchored start */
    p.interval = (Interval){UNIT_DAY, 1};
    p.timezone = "Europe/Berlin";
    p.start = "2025-01-01";
    CHECK(partitions_range(&p, "2025-02-27", "2025-03-02", &a, &ps, &n, &err));
    CHECK(n == 3);
    CHECK_STR(ps[1].name, "journal_entries_p2025_02_28");
    CHECK_STR(ps[2].bound_sql,
              "FOR VALUES FROM ('2025-03-01 00:00:00 Europe/Berlin') TO ('2025-03-02 00:00:00 Europe/Berlin')");

    /* quarters */
    p.interval = (Interval){UNIT_QUARTER, 1};
    p.start = NULL;
    p.timezone = "UTC";
    CHECK(partitions_range(&p, "2024-05-01", "2024-07-01", &a, &ps, &n, &err));
    CHECK(n == 1);
    CHECK_STR(ps[0].name, "journal_entries_p2024q2");

    /* bad text */
    CHECK(!partitions_range(&p, "2024-02-30", "2024-07-01", &a, &ps, &n, &err));
    CHECK(err.code == PM_EINPUT);

    /* name too long */
    p.naming = "{table}_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_{YYYY}q{Q}";
    CHECK(!partitions_range(&p, "2024-05-01", "2024-07-01", &a, &ps, &n, &err));
    CHECK(strstr(err.msg, "longer than 63") != NULL);
    buf_free(&b);
    arena_free(&a);
}

static void range_integer(void)
{
    Arena a = {0};
    Err err;
    err_clear(&err);
    Policy p = range_policy();
    p.column = "id";
    p.interval = (Interval){UNIT_INTEGER, 1000};
    PartitionSpec *ps;
    int n;
    CHECK(partitions_range(&p, "1500", "3000", &a, &ps, &n, &err));
    CHECK(n == 2);
    CHECK_STR(ps[0].name, "journal_entries_p1000");
    CHECK_STR(ps[1].bound_sql, "FOR VALUES FROM (2000) TO (3000)");
    CHECK(!partitions_range(&p, "x", "3000", &a, &ps, &n, &err));

    /* near the bigint limits: exact bounds, or an error naming the limit */
    p.interval = (Interval){UNIT_INTEGER, 100};
    p.start = "9223372036854775800";
    CHECK(!partitions_range(&p, "9223372036854775800", "9223372036854775807", &a, &ps, &n, &err));
    CHECK(strstr(err.msg, "9223372036854775807, the largest bigint") != NULL);
    p.start = "-9223372036854775808";
    CHECK(partitions_range(&p, "-9223372036854775808", "-9223372036854775508", &a, &ps, &n, &err));
    CHECK(n == 3);
    CHECK_STR(ps[0].bound_sql, "FOR VALUES FROM (-9223372036854775808) TO (-9223372036854775708)");
    CHECK(ps[2].upper_int == INT64_MIN + 300);
    /* start far below the data: the floor is computed without overflow */
    CHECK(partitions_range(&p, "1000000000000000000", "1000000000000000001", &a, &ps, &n, &err));
    CHECK(n == 1 && ps[0].lower_int <= 1000000000000000000LL && ps[0].upper_int > 1000000000000000000LL);
    p.start = "0";
    CHECK(!partitions_range(&p, "-9223372036854775808", "0", &a, &ps, &n, &err)); /* floor below bigint */
    CHECK(strstr(err.msg, "smallest bigint") != NULL);
    p.start = "99999999999999999999"; /* out of range: refused, not clamped */
    CHECK(!partitions_range(&p, "0", "100", &a, &ps, &n, &err));
    p.start = NULL;
    CHECK(!partitions_range(&p, "0", "9223372036854775808", &a, &ps, &n, &err));
    arena_free(&a);
}

/* Time bounds stay within years 1..9999. */
static void range_time_limits(void)
{
    Arena a = {0};
    Err err;
    err_clear(&err);
    Policy p = range_policy();
    p.interval = (Interval){UNIT_YEAR, 1000};
    PartitionSpec *ps;
    int n;
    CHECK(!partitions_range(&p, "8000-01-01", "9999-06-01", &a, &ps, &n, &err));
    CHECK(strstr(err.msg, "9999-12-31") != NULL);
    p.interval = (Interval){UNIT_MONTH, 1};
    CHECK(partitions_range(&p, "9999-10-01", "9999-12-01", &a, &ps, &n, &err) && n == 2);
    CHECK(!partitions_range(&p, "9999-12-01", "9999-12-31", &a, &ps, &n, &err)); /* would end in year 10000 */
    arena_free(&a);
}

/* The cap counts subpartitions: hash 1024 x subpartition hash 1024 is a
 * million tables, refused; range partitions stop at the cap too. */
static void partition_cap(void)
{
    Arena a = {0};
    Err err;
    err_clear(&err);
    Policy p;
    policy_defaults(&p);
    p.table = "t";
    p.by = PART_HASH;
    p.column = "id";
    p.modulus = 1024;
    p.subpartition = (Subpartition){.set = true, .by = PART_HASH, .column = "x", .modulus = 1024};
    CHECK(partition_relations_each(&p) == 1025);
    CHECK(!partitions_within_cap(&p, 1024, &err));
    CHECK(strstr(err.msg, "more than 100000 partitions: 1024 partitions x (1 + 1024 subpartitions) is 1049600") !=
          NULL);
    CHECK(err.hint[0] != '\0');
    p.subpartition.modulus = 96;
    CHECK(partitions_within_cap(&p, 1024, &err));       /* 1024 x 97 = 99328 */
    CHECK(!partitions_within_cap(&p, INT64_MAX, &err)); /* no overflow in the product */

    Policy r = range_policy();
    r.subpartition = (Subpartition){.set = true, .by = PART_HASH, .column = "x", .modulus = 1024};
    PartitionSpec *ps;
    int n;
    CHECK(partitions_range(&r, "2000-01-01", "2008-01-01", &a, &ps, &n, &err) && n == 96);
    CHECK(!partitions_range(&r, "2000-01-01", "2010-01-01", &a, &ps, &n, &err)); /* 120 x 1025 */
    CHECK(strstr(err.msg, "more than 100000 partitions") != NULL);
    r.subpartition.set = false;
    CHECK(partitions_range(&r, "2000-01-01", "2010-01-01", &a, &ps, &n, &err) && n == 120);
    arena_free(&a);
}

static void hash_list_sub(void)
{
    Arena a = {0};
    Policy p;
    policy_defaults(&p);
    p.table = "documents";
    p.by = PART_HASH;
    p.column = "tenant_id";
    p.modulus = 4;
    PartitionSpec *ps;
    int n;
    partitions_fixed(&p, &a, &ps, &n);
    CHECK(n == 4);
    CHECK_STR(ps[3].name, "documents_3");
    CHECK_STR(ps[3].bound_sql, "FOR VALUES WITH (MODULUS 4, REMAINDER 3)");

    static const char *de[] = {"DE", "it's"};
    static ListPartition lists[] = {{"emea", {de, 2}}};
    p.by = PART_LIST;
    p.table = "orders";
    p.lists = lists;
    p.nlists = 1;
    p.default_partition = true;
    partitions_fixed(&p, &a, &ps, &n);
    CHECK(n == 2);
    CHECK_STR(ps[0].name, "orders_emea");
    CHECK_STR(ps[0].bound_sql, "FOR VALUES IN ('DE', 'it''s')");
    CHECK_STR(ps[1].name, "orders_default");
    CHECK_STR(ps[1].bound_sql, "DEFAULT");

    p.subpartition = (Subpartition){.set = true, .by = PART_HASH, .column = "tenant_id", .modulus = 2};
    Buf b = {0};
    partition_create_sql(&b, &p, "orders", &ps[0]);
    CHECK_STR(buf_str(&b),
              "CREATE TABLE IF NOT EXISTS \"public\".\"orders_emea\" PARTITION OF \"public\".\"orders\" FOR VALUES IN "
              "('DE', 'it''s') PARTITION BY HASH (\"tenant_id\");\n"
              "CREATE TABLE IF NOT EXISTS \"public\".\"orders_emea_0\" PARTITION OF \"public\".\"orders_emea\" FOR "
              "VALUES WITH (MODULUS 2, REMAINDER 0);\n"
              "CREATE TABLE IF NOT EXISTS \"public\".\"orders_emea_1\" PARTITION OF \"public\".\"orders_emea\" FOR "
              "VALUES WITH (MODULUS 2, REMAINDER 1);\n");
    buf_reset(&b);
    partition_create_sql(&b, &p, "orders", &ps[1]); /* DEFAULT is not subpartitioned */
    CHECK(strstr(buf_str(&b), "PARTITION BY") == NULL);
    CHECK(partition_subname_suffix_max(&p) == 2);

    /* range: only the DEFAULT */
    Policy r = range_policy();
    partitions_fixed(&r, &a, &ps, &n);
    CHECK(n == 0);
    r.default_partition = true;
    partitions_fixed(&r, &a, &ps, &n);
    CHECK(n == 1);
    buf_free(&b);
    arena_free(&a);
}

int main(void)
{
    range_time();
    range_time_limits();
    partition_cap();
    range_integer();
    hash_list_sub();
    return check_report();
}
