/* test_policy.c: canonical policy JSON -- defaults filled, sorted, round trip. */
#include "check.h"
#include "model/policy.h"

static Policy sample(void)
{
    static const char *cols[] = {"tenant_id"};
    static IndexSpec ix[] = {{.columns = {cols, 1}}};
    static const char *pk[] = {"id", "created_at"};
    static TierRule tiers[] = {{{UNIT_MONTH, 6}, "cold"}};
    Policy p;
    policy_defaults(&p);
    p.source_file = "x.lua";
    p.source_line = 3;
    p.table = "journal_entries";
    p.column = "created_at";
    p.interval = (Interval){UNIT_MONTH, 1};
    p.indexes = ix;
    p.nindexes = 1;
    p.retention.set = true;
    p.retention.keep = (Interval){UNIT_MONTH, 24};
    p.retention.archive = ARCHIVE_SCHEMA;
    p.retention.archive_target = "archive";
    p.tiers = tiers;
    p.ntiers = 1;
    p.primary_key = (StrList){pk, 2};
    return p;
}

static void canonical(void)
{
    Arena a = {0};
    Policy p = sample();
    const char *j = policy_to_json(&p, &a);
    CHECK(strstr(j, "\"backend\":\"native\"") != NULL);
    CHECK(strstr(j, "\"naming\":\"{table}_p{YYYY}_{MM}\"") != NULL);
    CHECK(strstr(j, "\"name\":\"journal_entries_tenant_id_idx\"") != NULL);
    CHECK(strstr(j, "\"keep\":\"24 months\"") != NULL);
    CHECK(strstr(j, "\"archive\":\"schema:archive\"") != NULL);
    CHECK(strstr(j, "x.lua") == NULL);          /* no source location */
    CHECK(strncmp(j, "{\"backend\"", 10) == 0); /* sorted keys */
    CHECK(strchr(j, '\n') == NULL && strstr(j, ", ") == NULL);

    /* same policy, different source line: same text */
    Policy q = sample();
    q.source_line = 99;
    CHECK_STR(policy_to_json(&q, &a), j);
    /* explicit defaults give the same text as implicit ones */
    q.naming = "{table}_p{YYYY}_{MM}";
    q.indexes[0].method = "btree";
    CHECK_STR(policy_to_json(&q, &a), j);
    q.indexes[0].method = NULL;
    /* a real change changes it */
    q.retention.keep.count = 36;
    CHECK(strcmp(policy_to_json(&q, &a), j) != 0);

    Policy r;
    Err err;
    err_clear(&err);
    CHECK(policy_from_json(j, &a, &r, &err));
    CHECK_STR(policy_to_json(&r, &a), j);
    CHECK(r.interval.unit == UNIT_MONTH && r.interval.count == 1);
    CHECK(r.retention.archive == ARCHIVE_SCHEMA);
    CHECK_STR(r.retention.archive_target, "archive");
    CHECK(r.primary_key.n == 2);
    CHECK_STR(policy_qualified_name(&r, &a), "public.journal_entries");
    arena_free(&a);
}

static void kinds_roundtrip(void)
{
    Arena a = {0};
    static const char *de[] = {"DE", "FR"}, *us[] = {"US"};
    static ListPartition lists[] = {{"emea", {de, 2}}, {"amer", {us, 1}}};
    static ColumnDef cols[] = {{"id", "bigint not null"}, {"region", "text not null"}};
    Policy p;
    policy_defaults(&p);
    p.table = "orders";
    p.by = PART_LIST;
    p.column = "region";
    p.lists = lists;
    p.nlists = 2;
    p.default_partition = true;
    p.columns = cols;
    p.ncolumns = 2;
    p.subpartition = (Subpartition){.set = true, .by = PART_HASH, .column = "id", .modulus = 4};
    p.backend = BACKEND_NATIVE;
    p.existing.method = EXISTING_ATTACH;
    const char *j = policy_to_json(&p, &a);
    Policy r;
    Err err;
    err_clear(&err);
    CHECK(policy_from_json(j, &a, &r, &err));
    CHECK_STR(policy_to_json(&r, &a), j);
    CHECK(r.nlists == 2 && r.lists[0].values.n == 2);
    CHECK(r.subpartition.set && r.subpartition.modulus == 4);
    CHECK(r.existing.method == EXISTING_ATTACH);
    CHECK(r.ncolumns == 2);
    CHECK_STR(r.columns[1].type, "text not null");

    /* integer step */
    Policy q;
    policy_defaults(&q);
    q.table = "ev";
    q.column = "id";
    q.interval = (Interval){UNIT_INTEGER, 1000};
    j = policy_to_json(&q, &a);
    CHECK(strstr(j, "\"interval\":\"1000\"") != NULL);
    CHECK(policy_from_json(j, &a, &r, &err));
    CHECK(r.interval.unit == UNIT_INTEGER && r.interval.count == 1000);

    /* bad state */
    CHECK(!policy_from_json("{\"table\":3}", &a, &r, &err));
    CHECK(err.code == PM_EINPUT);
    CHECK(!policy_from_json("not json", &a, &r, &err));
    arena_free(&a);
}

int main(void)
{
    canonical();
    kinds_roundtrip();
    return check_report();
}
