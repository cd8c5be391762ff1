/* test_plan.c: a migration printed by plan_write reads back identically. */
#include "check.h"
#include "model/plan.h"

static void roundtrip(void)
{
    Arena a = {0};
    StepArg args[] = {{"index", "journal_entries_tenant_id_idx"}};
    Step steps[] = {
        {.number = 1,
         .action = STEP_SQL,
         .transactional = true,
         .table = "public.t",
         .lock = "ACCESS EXCLUSIVE on public.t",
         .undo = UNDO_SQL,
         .title = "create parent",
         .comment = "why: because\nsecond line",
         .sql = "CREATE TABLE IF NOT EXISTS \"public\".\"t\" ();\n\nSELECT 1;",
         .undo_sql = "DROP TABLE IF EXISTS \"public\".\"t\";"},
        {.number = 2,
         .action = STEP_BUILD_INDEX,
         .transactional = false,
         .table = "public.t",
         .undo = UNDO_AUTO,
         .title = "index per partition",
         .args = args,
         .nargs = 1},
        {.number = 3,
         .action = STEP_REGISTER,
         .transactional = true,
         .table = "public.t",
         .undo = UNDO_NONE,
         .title = "register"},
    };
    const char *pol[] = {"{\"table\":\"t\"}"};
    const char *fg[] = {"public.old"};
    Migration m = {.version = 7,
                   .name = "erp",
                   .header = "what: test\nsource: x.lua:3",
                   .lock_timeout = "3s",
                   .steps = steps,
                   .nsteps = 3,
                   .policies = pol,
                   .npolicies = 1,
                   .forgets = fg,
                   .nforgets = 1};
    Buf out = {0};
    plan_write(&m, &out);

    Migration r;
    Err err;
    err_clear(&err);
    CHECK(plan_read("x.sql", buf_str(&out), &a, &r, &err));
    CHECK(r.version == 7);
    CHECK_STR(r.name, "erp");
    CHECK_STR(r.header, "what: test\nsource: x.lua:3");
    CHECK_STR(r.lock_timeout, "3s");
    CHECK(r.nsteps == 3);
    if (r.nsteps == 3) {
        CHECK(r.steps[0].action == STEP_SQL && r.steps[0].transactional && r.steps[0].undo == UNDO_SQL);
        CHECK_STR(r.steps[0].lock, "ACCESS EXCLUSIVE on public.t");
        CHECK_STR(r.steps[0].title, "create parent");
        CHECK_STR(r.steps[0].comment, "why: because\nsecond line");
        CHECK_STR(r.steps[0].sql, steps[0].sql);
        CHECK_STR(r.steps[0].undo_sql, steps[0].undo_sql);
        CHECK(r.steps[1].action == STEP_BUILD_INDEX && !r.steps[1].transactional);
        CHECK_STR(step_arg(&r.steps[1], "index"), "journal_entries_tenant_id_idx");
        CHECK(r.steps[2].undo == UNDO_NONE && r.steps[2].sql == NULL);
    }
    CHECK(r.npolicies == 1 && r.nforgets == 1);
    if (r.npolicies == 1)
        CHECK_STR(r.policies[0], "{\"table\":\"t\"}");

    /* written twice: byte-identical */
    Buf again = {0};
    plan_write(&r, &again);
    CHECK_STR(buf_str(&again), buf_str(&out));

    buf_free(&out);
    buf_free(&again);
    arena_free(&a);
}

static void rejects(void)
{
    Arena a = {0};
    Migration r;
    Err err;
    err_clear(&err);
    CHECK(!plan_read("bad.sql", "SELECT 1;\n", &a, &r, &err));
    CHECK(err.code == PM_EINPUT && err.line == 1);
    err_clear(&err);
    CHECK(!plan_read("bad.sql", "-- partmig migration 0001 x\n\n-- partmig:step 1 action=sql\nSELECT 1;\n", &a, &r,
                     &err));
    CHECK(strstr(err.msg, "partmig:end") != NULL);
    err_clear(&err);
    CHECK(!plan_read("bad.sql", "-- partmig migration 0001 x\n\n-- partmig:step 2 action=sql\n-- partmig:end\n", &a, &r,
                     &err));
    CHECK(err.line == 3);
    arena_free(&a);
}

int main(void)
{
    roundtrip();
    rejects();
    return check_report();
}
