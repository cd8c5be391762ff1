/* test_validate.c: identifier, interval, date and zone patterns; whole-policy checks; the line of a bad key;
 * hints. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "model/policy.h"
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

    /* `$` is the end of the subject: a final newline never passes */
    CHECK(!validate_identifier("t\n"));
    CHECK(!validate_timezone("UTC\n"));
    CHECK(!validate_timezone("Europe/Berlin\n"));
    CHECK(!validate_date("2024-01-01\n"));
    CHECK(!interval_parse("1 month\n", false, &iv));
    CHECK(!interval_parse("1\tmonth", false, &iv));
    CHECK(!interval_parse("1000\n", true, &iv));
}

static const char *escaped(const char *in, size_t cap)
{
    static char out[256];
    text_escape(out, cap, in, strlen(in));
    return out;
}

static void text(void)
{
    CHECK(validate_text("") == NULL);
    CHECK(validate_text("timestamptz not null default now()") == NULL);
    CHECK(validate_text("Z\xc3\xbcrich \xe6\x9d\xb1\xe4\xba\xac \xf0\x9f\x98\x80") == NULL);
    CHECK_STR(validate_text("a\vb"), "a control character");
    CHECK_STR(validate_text("a\fb"), "a control character");
    CHECK_STR(validate_text("a\nb"), "a control character");
    CHECK_STR(validate_text("a\x7f"), "a control character");
    CHECK_STR(validate_text("\xc2\x9b[2J"), "a control character"); /* C1 CSI as UTF-8 */
    CHECK_STR(validate_text("bad\xff"), "invalid UTF-8");
    CHECK_STR(validate_text("\xc0\xaf"), "invalid UTF-8");     /* overlong "/" */
    CHECK_STR(validate_text("\xed\xa0\x80"), "invalid UTF-8"); /* a surrogate */
    CHECK_STR(validate_text("\xe6\x9d"), "invalid UTF-8");     /* cut short */

    CHECK_STR(escaped("plain text", 256), "plain text");
    CHECK_STR(escaped("a\nhint: b\r\t\x1b[2J\x7f", 256), "a\\nhint: b\\r\\t\\x1b[2J\\x7f");
    CHECK_STR(escaped("Z\xc3\xbcrich", 256), "Z\xc3\xbcrich");
    CHECK_STR(escaped("\xc2\x9b\xff\xe6\x9d", 256), "\\xc2\\x9b\\xff\\xe6\\x9d");
    CHECK_STR(escaped("abc\ndef", 5), "abc");              /* cut before an escape that does not fit */
    CHECK_STR(escaped("\xc3\xbc\xc3\xbc", 4), "\xc3\xbc"); /* never half a character */
    char buf[8];
    text_escape(buf, sizeof buf, "a\0b", 3); /* a NUL inside a Lua string */
    CHECK_STR(buf, "a\\x00b");
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
    if (policy_validate(&set, err))
        return "";
    CHECK(err->hint[0] != '\0'); /* every error says how to fix it */
    return err->msg;
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

    /* control characters and invalid UTF-8 in values and column types */
    static const char *vals[] = {"DE", "F\xff"};
    static ListPartition lists[] = {{"a", {vals, 2}}};
    p = base();
    p.by = PART_LIST;
    p.interval = (Interval){0};
    p.lists = lists;
    p.nlists = 1;
    CHECK(strstr(check_one(p, &err), "value \"F\\xff\" holds invalid UTF-8") != NULL);
    vals[1] = "F\vR";
    CHECK(strstr(check_one(p, &err), "value \"F\\x0bR\" holds a control character") != NULL);
    vals[1] = "FR";
    CHECK_STR(check_one(p, &err), "");

    static ColumnDef vcols[] = {{"id", "bigint\vnot null"}, {"created_at", "timestamptz\fnot null"}};
    p = base();
    p.columns = vcols;
    p.ncolumns = 2;
    CHECK(strstr(check_one(p, &err), "type \"bigint\\x0bnot null\": holds a control character") != NULL);
    vcols[0].type = "bigint";
    CHECK(strstr(check_one(p, &err), "type \"timestamptz\\x0cnot null\"") != NULL);

    /* a hostile table name is printed escaped */
    p = base();
    p.table = "t\nhint: \x1b[31m";
    CHECK(strstr(check_one(p, &err), "partition \"t\\nhint: \\x1b[31m\": table name") != NULL);
    CHECK(strchr(err.msg, '\n') == NULL && strchr(err.msg, 0x1b) == NULL);
}

/* Duplicates are found by sorting, with the same answer the pairwise loops
 * gave: the first entry (in order) repeating an earlier one, and that one. */
static void duplicates(void)
{
    Err err;
    enum { N = POLICY_MAX_LIST_VALUES };
    static const char *values[N];
    static char text[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(text[i], sizeof text[i], "v%d", (i * 7919) % N); /* distinct, not in order */
        values[i] = text[i];
    }
    ListPartition lists[2] = {{"a", {values, N / 2}}, {"b", {values + N / 2, N / 2}}};
    Policy p = base();
    p.by = PART_LIST;
    p.interval = (Interval){0};
    p.lists = lists;
    p.nlists = 2;
    CHECK_STR(check_one(p, &err), "");
    snprintf(text[N - 1], sizeof text[N - 1], "%s", text[3]); /* "b" repeats a value of "a" */
    snprintf(text[N - 2], sizeof text[N - 2], "%s", text[7]);
    CHECK(strstr(check_one(p, &err), "appears twice (in \"a\" and \"b\")") != NULL);
    char want[64];
    snprintf(want, sizeof want, "value \"%s\"", text[7]); /* N - 2 comes first in order */
    CHECK(strstr(err.msg, want) != NULL);

    /* more values than the limit */
    static const char *many[N + 1];
    for (int i = 0; i <= N; i++)
        many[i] = "x";
    ListPartition one[1] = {{"a", {many, N + 1}}};
    p.lists = one;
    p.nlists = 1;
    CHECK(strstr(check_one(p, &err), "more than 10000 values, the limit for one table") != NULL);

    /* a column declared twice among many */
    enum { C = 1000 };
    static ColumnDef cols[C];
    static char names[C][16];
    for (int i = 0; i < C; i++) {
        snprintf(names[i], sizeof names[i], "c%d", C - i);
        cols[i] = (ColumnDef){names[i], "int"};
    }
    p = base();
    p.column = "c1";
    p.columns = cols;
    p.ncolumns = C;
    CHECK_STR(check_one(p, &err), "");
    cols[600].name = "c5";
    cols[900].name = "c5";
    CHECK(strstr(check_one(p, &err), "column \"c5\" is declared twice") != NULL);

    /* tables: the first repeat in order is reported, naming the first declaration */
    enum { T = POLICY_MAX_ENTRIES };
    Policy *set_items = calloc(T + 1, sizeof *set_items);
    static char tables[T + 1][16];
    for (int i = 0; i <= T; i++) {
        set_items[i] = base();
        snprintf(tables[i], sizeof tables[i], "t%d", T - i);
        set_items[i].table = tables[i];
        set_items[i].source_line = i + 1;
    }
    PolicySet set = {set_items, T, T};
    err_clear(&err);
    CHECK(policy_validate(&set, &err));
    set_items[5000].table = "t9000"; /* t9000 is entry 1000 */
    set_items[7000].table = "t9990"; /* t9990 is entry 10 */
    err_clear(&err);
    CHECK(!policy_validate(&set, &err));
    CHECK(strstr(err.msg, "table \"public.t9000\" is declared twice") != NULL);
    CHECK(err.line == 5001);
    CHECK(strstr(err.hint, "p.lua:1001") != NULL);

    /* more entries than the limit */
    set_items[5000].table = tables[5000];
    set_items[7000].table = tables[7000];
    set.n = T + 1;
    err_clear(&err);
    CHECK(!policy_validate(&set, &err));
    CHECK(strstr(err.msg, "more than 10000 partition entries, the limit") != NULL);
    CHECK(err.line == T + 1);
    free(set_items);
}

/* Counts over the limits are refused whatever made the policy. */
static void limits(void)
{
    Err err;
    static const char *col[] = {"created_at"};
    static IndexSpec ixs[POLICY_MAX_INDEXES + 1];
    for (int i = 0; i <= POLICY_MAX_INDEXES; i++)
        ixs[i] = (IndexSpec){.name = NULL, .columns = {col, 1}};
    Policy p = base();
    p.indexes = ixs;
    p.nindexes = POLICY_MAX_INDEXES + 1;
    CHECK(strstr(check_one(p, &err), "indexes: 101 entries, more than the limit of 100") != NULL);
    static const char *pk[POLICY_MAX_INDEX_COLUMNS + 1];
    for (int i = 0; i <= POLICY_MAX_INDEX_COLUMNS; i++)
        pk[i] = "created_at";
    p = base();
    p.primary_key = (StrList){pk, POLICY_MAX_INDEX_COLUMNS + 1};
    CHECK(strstr(check_one(p, &err), "primary_key: 33 entries, more than the limit of 32") != NULL);
    static TierRule tiers[POLICY_MAX_TIERS + 1];
    p = base();
    p.tiers = tiers;
    p.ntiers = POLICY_MAX_TIERS + 1;
    CHECK(strstr(check_one(p, &err), "tiering: 33 entries, more than the limit of 32") != NULL);
}

static void zones(void)
{
    /* the names PostgreSQL 15 knows, spelled exactly */
    CHECK(validate_timezone("Europe/Paris"));
    CHECK(validate_timezone("GMT"));
    CHECK(validate_timezone("Etc/GMT+5"));
    CHECK(validate_timezone("US/Eastern"));
    CHECK(!validate_timezone("Europe/Pari"));
    CHECK(!validate_timezone("europe/paris"));
    CHECK(!validate_timezone("Europe/Atlantis"));
    CHECK(!validate_timezone("CET")); /* a fixed abbreviation in timestamp input */
    CHECK(!validate_timezone("posix/Europe/Paris"));
    CHECK(validate_timezone_problem("Europe/Paris") == NULL);
    CHECK(strstr(validate_timezone_problem("Europe/Pari"), "not a time zone name PostgreSQL knows") != NULL);
    CHECK(strstr(validate_timezone_problem("CET"), "single-word") != NULL);

    char near[200];
    CHECK(validate_timezone_suggest("Europe/Pari", near, sizeof near) == 1);
    CHECK_STR(near, "\"Europe/Paris\"");
    CHECK(validate_timezone_suggest("Berlin", near, sizeof near) == 1);
    CHECK_STR(near, "\"Europe/Berlin\"");
    CHECK(validate_timezone_suggest("america/new_york", near, sizeof near) == 1);
    CHECK_STR(near, "\"America/New_York\"");
    CHECK(validate_timezone_suggest("Mars/Olympus Mons", near, sizeof near) == 0);
    CHECK_STR(near, "");

    static const char *const keys[] = {"keep", "keep_table", "keep_index", "archive", NULL};
    CHECK_STR(validate_closest("kep_table", keys), "keep_table");
    CHECK_STR(validate_closest("KEEP", keys), "keep");
    CHECK(validate_closest("colour", keys) == NULL);

    CHECK(strstr(policy_key_example("indexes[3].method"), "\"brin\"") != NULL);
    CHECK(strstr(policy_key_example("values.eu[2]"), "values = {") != NULL);
    CHECK(strstr(policy_key_example("columns[2] type"), "columns = {") != NULL);
    CHECK(strstr(policy_key_example("retention.keep"), "keep = \"24 months\"") != NULL);
    CHECK(policy_key_example("colour") == NULL);
    CHECK(policy_key_example(NULL) == NULL);
}

static void key_lines(void)
{
    static const char text[] = "-- line 1 { not a table\n"
                               "defaults {\n"
                               "  premake = 3,\n"
                               "  timezone = \"UTC\" }\n"
                               "partition \"a\" { column = \"c\" } partition \"b\" {\n"
                               "  column = \"created_at\", s = \"} { --\", l = [[\n"
                               "]] .. [==[ ]] }\n"
                               "]==],\n"
                               "  interval = \"1 month\", --[[ interval = 1\n"
                               "  ]] indexes = {\n"
                               "    { columns = { \"a\" } },\n"
                               "    { columns = { \"b\" },\n"
                               "      method = \"btree2\" },\n"
                               "  },\n"
                               "  [\"retention\"] = { keep = (\"2\" .. \" weeks\") },\n"
                               "  values = { eu = { \"DE\",\n"
                               "    \"FR\" } },\n"
                               "  interval = 3.5,\n"
                               "}\n"
                               "for _, n in ipairs { \"x\" } do partition(n .. \"_t\") {\n"
                               "  premak = 1 } end\n";
    size_t len = sizeof text - 1;
    CHECK(policy_key_line_in(text, len, 2, "defaults", NULL, "timezone") == 4);
    CHECK(policy_key_line_in(text, len, 2, "defaults", NULL, "premake") == 3);
    CHECK(policy_key_line_in(text, len, 5, "partition", "a", "column") == 5);
    CHECK(policy_key_line_in(text, len, 5, "partition", "b", "column") == 6);
    CHECK(policy_key_line_in(text, len, 5, "partition", "b", "interval") == 18); /* the last one counts */
    CHECK(policy_key_line_in(text, len, 5, "partition", "b", "indexes[2].method") == 13);
    CHECK(policy_key_line_in(text, len, 5, "partition", "b", "indexes[2]") == 12);
    CHECK(policy_key_line_in(text, len, 5, "partition", "b", "indexes[3]") == 10); /* as deep as it goes */
    CHECK(policy_key_line_in(text, len, 5, "partition", "b", "retention.keep") == 15);
    CHECK(policy_key_line_in(text, len, 5, "partition", "b", "values.eu[2]") == 17);
    CHECK(policy_key_line_in(text, len, 5, "partition", "b", "timezone") == 0); /* from defaults */
    CHECK(policy_key_line_in(text, len, 5, "partition", "c", "column") == 0);   /* no such call */
    CHECK(policy_key_line_in(text, len, 20, "partition", "x_t", "premak") == 21);
    CHECK(policy_key_line_in(text, len, 1, "defaults", NULL, "premake") == 0); /* a comment */
    CHECK(policy_key_line_in(text, 40, 5, "partition", "b", "column") == 0);   /* cut short */
    CHECK(policy_key_line_in(text, len, 5, "partition", "b", NULL) == 0);

    /* policy_validate names the key's line in the file */
    char path[] = "/tmp/test_validate_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("partition \"t\" {\n  column = \"created_at\",\n  interval = \"1 month\",\n"
          "  timezone = \"Europe/Pari\",\n}\n",
          f);
    fclose(f);
    Policy p = base();
    p.source_file = path;
    p.source_line = 1;
    p.timezone = "Europe/Pari";
    Err err;
    CHECK(strstr(check_one(p, &err), "timezone \"Europe/Pari\"") != NULL);
    CHECK(err.line == 4);
    CHECK(strstr(err.hint, "did you mean \"Europe/Paris\"?") != NULL);
    p.timezone = "UTC";
    static const char *pk[] = {"id"};
    p.primary_key = (StrList){pk, 1};
    CHECK(strstr(check_one(p, &err), "primary_key must include") != NULL);
    CHECK(err.line == 1); /* not written in the file: the partition's line */
    unlink(path);
}

int main(void)
{
    zones();
    key_lines();
    patterns();
    text();
    policies();
    duplicates();
    limits();
    validate_release();
    return check_report();
}
