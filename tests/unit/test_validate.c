/* test_validate.c: identifier, interval, date and zone patterns; whole-policy checks. */
#include "check.h"
#include "compiler/policy.h"
#include "compiler/validate.h"

static void patterns(void)
{
    CHECK(validate_identifier("journal_entries"));
    CHECK(validate_identifier("_x_1"));
    CHECK(!validate_identifier("x$1")); /* $ would end partmig's dollar quotes */
    CHECK(!validate_identifier(""));
    CHECK(!validate_identifier("Journal"));
    CHECK(!validate_identifier("1abc"));
    CHECK(!validate_identifier("x\"; DROP TABLE y; --"));
    CHECK(!validate_identifier("a b"));
    CHECK(!validate_identifier("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 64 */
    CHECK(validate_identifier("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));   /* 63 */
    CHECK(!validate_identifier("caf\xc3\xa9"));
    CHECK(!validate_identifier("bad\xff"));

    Interval iv;
    CHECK(interval_parse("1 month", false, &iv) && iv.unit == UNIT_MONTH && iv.count == 1);
    CHECK(interval_parse("24 months", false, &iv) && iv.count == 24);
    CHECK(interval_parse("3 days", false, &iv) && iv.unit == UNIT_DAY);
    CHECK(interval_parse("1 quarter", false, &iv) && iv.unit == UNIT_QUARTER);
    CHECK(interval_parse("2 weeks", false, &iv) && iv.unit == UNIT_WEEK);
    CHECK(interval_parse("6 hours", false, &iv) && iv.unit == UNIT_HOUR);
    CHECK(interval_parse("1 year", false, &iv) && iv.unit == UNIT_YEAR);
    CHECK(!interval_parse("1 monht", false, &iv));
    CHECK(!interval_parse("0 months", false, &iv));
    CHECK(!interval_parse("month", false, &iv));
    CHECK(!interval_parse("1 month; drop", false, &iv));
    CHECK(!interval_parse("1000", false, &iv));
    CHECK(interval_parse("1000", true, &iv) && iv.unit == UNIT_INTEGER && iv.count == 1000);
    CHECK(!interval_parse("-5", true, &iv));

    CHECK(validate_date("2024-02-29"));
    CHECK(!validate_date("2023-02-29"));
    CHECK(!validate_date("2024-13-01"));
    CHECK(!validate_date("2024-1-1"));
    CHECK(!validate_date("2024-01-01 00"));

    CHECK(validate_timezone("UTC"));
    CHECK(validate_timezone("Europe/Berlin"));
    CHECK(validate_timezone("America/Argentina/Buenos_Aires"));
    CHECK(!validate_timezone("utc'; drop"));
    CHECK(!validate_timezone("Mars/Olympus Mons"));
    CHECK(!validate_timezone(""));
}

static Policy base(void)
{
    Policy p;
    policy_defaults(&p);
    p.source_file = "p.lua";
    p.source_line = 7;
    p.table = "t";
    p.column = "created_at";
    p.interval = (Interval){UNIT_MONTH, 1};
    return p;
}

/* Validate one policy; returns the message ("" when valid). */
static const char *check_one(Policy p, Err *err)
{
    PolicySet set = {&p, 1, 1};
    err_clear(err);
    return policy_validate(&set, err) ? "" : err->msg;
}

static void policies(void)
{
    Err err;
    CHECK_STR(check_one(base(), &err), "");

    Policy p = base();
    p.table = "x\"; DROP TABLE y; --";
    CHECK(strstr(check_one(p, &err), "expected a lowercase SQL name") != NULL);
    CHECK_STR(err.file, "p.lua");
    CHECK(err.line == 7);

    p = base();
    p.retention = (Retention){.set = true, .keep = {UNIT_DAY, 10}, .keep_index = true};
    CHECK(strstr(check_one(p, &err), "shorter than one interval") != NULL);

    p = base();
    p.by = PART_HASH;
    p.modulus = 4;
    CHECK(strstr(check_one(p, &err), "takes no \"interval\"") != NULL);
    p.interval = (Interval){0};
    CHECK_STR(check_one(p, &err), "");
    p.modulus = 2000;
    CHECK(strstr(check_one(p, &err), "\"modulus\" 2..1024") != NULL);

    p = base();
    p.naming = "{table}_{YYYY}";
    CHECK(strstr(check_one(p, &err), "must contain {YYYY} {MM}") != NULL);
    p.naming = "{table}_{YYYY}_{MM}_x";
    CHECK_STR(check_one(p, &err), "");
    p.naming = "{table}-{YYYY}{MM}";
    CHECK(strstr(check_one(p, &err), "only a-z, 0-9, _") != NULL);

    /* partition names longer than 63 bytes */
    p = base();
    p.table = "a_table_name_that_is_long_enough_to_overflow_partition_names";
    CHECK(strstr(check_one(p, &err), "longer than 63 bytes") != NULL);

    p = base();
    p.start = "2024-02-30";
    CHECK(strstr(check_one(p, &err), "expected a real date") != NULL);

    static const char *pk[] = {"id"};
    p = base();
    p.primary_key = (StrList){pk, 1};
    CHECK(strstr(check_one(p, &err), "primary_key must include the partition key") != NULL);
    CHECK(strstr(err.hint, "\"id\", \"created_at\"") != NULL);

    static ColumnDef cols[] = {{"id", "bigint /* x */"}, {"created_at", "timestamptz"}};
    p = base();
    p.columns = cols;
    p.ncolumns = 2;
    CHECK(strstr(check_one(p, &err), "type \"bigint /* x */\"") != NULL);
    cols[0].type = "numeric(10,2";
    CHECK(strstr(check_one(p, &err), "unbalanced") != NULL);
    cols[0].type = "numeric(10,2) not null default 0";
    CHECK_STR(check_one(p, &err), "");

    p = base();
    p.backend = BACKEND_PG_PARTMAN;
    p.interval = (Interval){UNIT_INTEGER, 100};
    CHECK(strstr(check_one(p, &err), "pg_partman") != NULL);

    p = base();
    static TierRule tiers[] = {{{UNIT_MONTH, 12}, "cold"}};
    p.retention = (Retention){.set = true, .keep = {UNIT_MONTH, 12}, .keep_index = true};
    p.tiers = tiers;
    p.ntiers = 1;
    CHECK(strstr(check_one(p, &err), "not shorter than retention.keep") != NULL);
    tiers[0].older_than.count = 6;
    CHECK_STR(check_one(p, &err), "");

    /* duplicates */
    Policy two[2] = {base(), base()};
    two[1].source_line = 9;
    PolicySet set = {two, 2, 2};
    err_clear(&err);
    CHECK(!policy_validate(&set, &err));
    CHECK(strstr(err.msg, "declared twice") != NULL);
    CHECK(err.line == 9);
    CHECK(strstr(err.hint, "p.lua:7") != NULL);
}

int main(void)
{
    patterns();
    policies();
    validate_release();
    return check_report();
}
