/* test_workload.c: the workload check's statement texts (runtime/
 * workload_text.c) -- which statements name the table, how they are
 * rewritten to the shape table, and how their text is printed. */
#include <stdlib.h>

#include "../../common/sqlparse.h"
#include "../../runtime/workload_internal.h"
#include "check.h"

static const WorkloadTarget target = {.schema = "public", .table = "orders", .column = "created_at", .by = "RANGE"};

/* Parse TEXT; *TOUCHES whether it names the table; the rewrite or NULL. */
static const char *rewrite(Arena *a, const char *text, bool *touches, Candidate *cd)
{
    memset(cd, 0, sizeof *cd);
    cd->text = text;
    *touches = workload_parse(&target, a, cd);
    return *touches && !cd->reason ? workload_rewrite(a, cd) : NULL;
}

static void test_references(void)
{
    Arena a = {0};
    Candidate cd;
    bool t;
    CHECK_STR(rewrite(&a, "UPDATE orders SET note = $2 WHERE id = $1", &t, &cd),
              "PREPARE partmig_workload AS UPDATE \"pg_temp\".\"orders\" SET note = $2 WHERE id = $1");
    CHECK(t && cd.unqualified && !cd.qualified);
    CHECK_STR(rewrite(&a, "SELECT o.id FROM  Public . \"orders\" o JOIN items i ON i.order_id = o.id WHERE o.id = $1",
                      &t, &cd),
              "PREPARE partmig_workload AS SELECT o.id FROM  \"pg_temp\".\"orders\" o JOIN items i ON i.order_id = "
              "o.id WHERE o.id = $1");
    CHECK(t && cd.qualified && !cd.unqualified);
    /* another schema's table, a longer name, a column of that name: not the table */
    rewrite(&a, "SELECT * FROM archive.orders WHERE id = $1", &t, &cd);
    CHECK(!t);
    rewrite(&a, "SELECT * FROM orders_archive WHERE orders = $1", &t, &cd);
    CHECK(!t);
    /* PREPARE: its name replaced, its types kept */
    CHECK_STR(rewrite(&a, "PREPARE \"Upd\" (bigint) AS DELETE FROM public.orders WHERE id = $1", &t, &cd),
              "PREPARE partmig_workload (bigint) AS DELETE FROM \"pg_temp\".\"orders\" WHERE id = $1");
    /* typed literals as pg_stat_statements writes them, made SQL again */
    CHECK_STR(
        rewrite(&a, "SELECT 1 FROM orders WHERE created_at > now() - interval $1 AND d >= timestamptz $2", &t, &cd),
        "PREPARE partmig_workload AS SELECT 1 FROM \"pg_temp\".\"orders\" WHERE created_at > now() - CAST($1 AS "
        "interval) AND d >= CAST($2 AS timestamptz)");
    arena_free(&a);
}

static void test_not_checked(void)
{
    Arena a = {0};
    Candidate cd;
    bool t;
    rewrite(&a, "VACUUM orders", &t, &cd);
    CHECK(t && cd.reason && strstr(cd.reason, "not a SELECT"));
    rewrite(&a, "WITH orders AS (SELECT 1) SELECT * FROM orders", &t, &cd);
    CHECK(t && cd.reason && strstr(cd.reason, "WITH query"));
    rewrite(&a, "SELECT FROM FROM orders", &t, &cd);
    CHECK(t && cd.reason && strstr(cd.reason, "cannot read"));
    /* partmig's own: marked, or naming its ledger or conversion tables */
    rewrite(&a, PG_QUERY_MARK "SELECT min(created_at) FROM \"public\".\"orders\"", &t, &cd);
    CHECK(!t);
    rewrite(&a, "INSERT INTO public.orders_partmig_new SELECT * FROM public.orders WHERE id > $1", &t, &cd);
    CHECK(!t);
    arena_free(&a);
}

static void test_shown(void)
{
    Arena a = {0};
    CHECK_STR(workload_shown(&a, "  SELECT 1\n\t FROM t /* \x1b[31m \r\n */\x7f", 100),
              "SELECT 1 FROM t /* \\x1b[31m */\\x7f");
    CHECK_STR(workload_shown(&a, "caf\xc3\xa9 \xff\xc2\x85", 100), "caf\xc3\xa9 \\xff\\xc2\\x85");
    char *long_text = malloc(5001);
    memset(long_text, 'z', 5000);
    long_text[5000] = '\0';
    const char *s = workload_shown(&a, long_text, 20);
    CHECK_STR(s, "zzzzzzzzzzzzzzzzzzzz... (5000 bytes)");
    free(long_text);
    arena_free(&a);
}

int main(void)
{
    test_references();
    test_not_checked();
    test_shown();
    sql_parse_cleanup();
    return check_report();
}
