/* test_planner.c: plan_build's step lists for new tables and for each kind of delta. */
#include "check.h"
#include "compiler/planner.h"

static Policy base(void)
{
    static const char *cols[] = {"tenant_id"};
    static IndexSpec ix[] = {{.columns = {cols, 1}}};
    Policy p;
    policy_defaults(&p);
    p.source_file = "p.lua";
    p.source_line = 3;
    p.table = "t";
    p.column = "created_at";
    p.interval = (Interval){UNIT_MONTH, 1};
    p.indexes = ix;
    p.nindexes = 1;
    return p;
}

/* "sql,build_index,register" */
static const char *actions(const Migration *m, Arena *a)
{
    Buf b = {0};
    for (int i = 0; i < m->nsteps; i++)
        buf_printf(&b, "%s%s", i ? "," : "", step_action_name(m->steps[i].action));
    const char *s = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return s;
}

static const char *const *g_forget, *const *g_relayout; /* --forget / --relayout of the next plan() */

static bool plan(Policy *old, int nold, Policy *now, int nnow, Arena *a, Migration *m, bool *changed, Err *err)
{
    PolicySet o = {old, nold, nold}, n = {now, nnow, nnow};
    PlanInput in = {.old = &o, .now = &n, .as_of = "2025-03-15", .version = nold ? 2 : 1, .sources = "p.lua"};
    in.forget = g_forget;
    in.nforget = g_forget ? 1 : 0;
    in.relayout = g_relayout;
    in.nrelayout = g_relayout ? 1 : 0;
    err_clear(err);
    return plan_build(&in, a, m, changed, err);
}

static void new_tables(void)
{
    Arena a = {0};
    Err err;
    Migration m;
    bool changed;
    Policy p = base();
    CHECK(plan(NULL, 0, &p, 1, &a, &m, &changed, &err) && changed);
    CHECK_STR(actions(&m, &a), "ensure_table,premake,sql,build_index,register");
    CHECK_STR(m.name, "p");
    CHECK(m.npolicies == 1 && m.nforgets == 0);
    CHECK_STR(m.steps[0].lock, "ACCESS EXCLUSIVE on public.t");
    CHECK_STR(m.steps[4].lock, "none");
    CHECK(!m.steps[3].transactional);
    CHECK_STR(step_arg(&m.steps[3], "index"), "t_tenant_id_idx");
    CHECK(strstr(m.header, "source: p.lua:3 partition \"t\"") != NULL);
    CHECK(strstr(m.header, "as of") == NULL); /* nothing depends on --as-of */

    /* with a start: the static partitions through as-of + premake */
    p.start = "2025-01-01";
    p.premake = 1;
    p.nindexes = 0;
    CHECK(plan(NULL, 0, &p, 1, &a, &m, &changed, &err));
    CHECK_STR(actions(&m, &a), "ensure_table,sql,premake,register");
    CHECK(strstr(m.steps[1].sql, "\"t_p2025_01\"") && strstr(m.steps[1].sql, "\"t_p2025_04\"") &&
          !strstr(m.steps[1].sql, "\"t_p2025_05\""));
    CHECK(m.steps[1].undo == UNDO_SQL && strstr(m.steps[1].undo_sql, "holds rows"));
    CHECK(strstr(m.header, "as of 2025-03-15") != NULL);

    /* columns: CREATE TABLE */
    static ColumnDef cols[] = {{"id", "bigint not null"}, {"created_at", "timestamptz not null"}};
    static const char *pk[] = {"id", "created_at"};
    p.columns = cols;
    p.ncolumns = 2;
    p.primary_key = (StrList){pk, 2};
    CHECK(plan(NULL, 0, &p, 1, &a, &m, &changed, &err));
    CHECK_STR(m.steps[0].sql, "CREATE TABLE IF NOT EXISTS \"public\".\"t\" (\n"
                              "    \"id\" bigint not null,\n"
                              "    \"created_at\" timestamptz not null,\n"
                              "    PRIMARY KEY (\"id\", \"created_at\")\n"
                              ") PARTITION BY RANGE (\"created_at\");");

    /* pg_partman */
    p = base();
    p.backend = BACKEND_PG_PARTMAN;
    p.nindexes = 0;
    CHECK(plan(NULL, 0, &p, 1, &a, &m, &changed, &err));
    CHECK_STR(actions(&m, &a), "ensure_table,sql,register");
    CHECK(strstr(m.steps[1].sql, "partman.create_parent(") && strstr(m.steps[1].sql, "IF NOT EXISTS"));
    arena_free(&a);
}

static void deltas(void)
{
    Arena a = {0};
    Err err;
    Migration m;
    bool changed;
    Policy old = base(), now = base();
    now.source_line = 40; /* moving a policy in its file changes nothing */
    CHECK(plan(&old, 1, &now, 1, &a, &m, &changed, &err) && !changed);

    now.retention = (Retention){.set = true, .keep = {UNIT_MONTH, 24}, .keep_index = true};
    CHECK(plan(&old, 1, &now, 1, &a, &m, &changed, &err) && changed);
    CHECK_STR(actions(&m, &a), "register");
    CHECK_STR(m.name, "p_retention");

    now = base();
    now.premake = 6;
    CHECK(plan(&old, 1, &now, 1, &a, &m, &changed, &err));
    CHECK_STR(actions(&m, &a), "premake,register");
    now.premake = 1; /* shrinking premake: nothing to create */
    CHECK(plan(&old, 1, &now, 1, &a, &m, &changed, &err));
    CHECK_STR(actions(&m, &a), "register");

    static const char *c2[] = {"tenant_id", "created_at"};
    IndexSpec two[2] = {old.indexes[0], {.columns = {c2, 2}}};
    now = base();
    now.indexes = two;
    now.nindexes = 2;
    CHECK(plan(&old, 1, &now, 1, &a, &m, &changed, &err));
    CHECK_STR(actions(&m, &a), "sql,build_index,register");
    CHECK_STR(m.name, "p_index");

    now.indexes = NULL;
    now.nindexes = 0;
    CHECK(plan(&old, 1, &now, 1, &a, &m, &changed, &err));
    CHECK_STR(actions(&m, &a), "sql,register");
    CHECK(m.steps[0].undo == UNDO_NONE);
    CHECK_STR(m.steps[0].sql, "DROP INDEX IF EXISTS \"public\".\"t_tenant_id_idx\";");

    /* by, column, interval: refused without --relayout, naming the flag */
    now = base();
    now.interval = (Interval){UNIT_DAY, 1};
    CHECK(!plan(&old, 1, &now, 1, &a, &m, &changed, &err));
    CHECK(strstr(err.msg, "interval changed") != NULL && err.line == 3);
    CHECK(strstr(err.hint, "--relayout public.t") != NULL);
    now = base();
    now.column = "updated_at";
    CHECK(!plan(&old, 1, &now, 1, &a, &m, &changed, &err));
    static const char *const relayout_t[] = {"public.t"};
    g_relayout = relayout_t;
    CHECK(plan(&old, 1, &now, 1, &a, &m, &changed, &err) && changed);
    CHECK_STR(actions(&m, &a), "ensure_table,premake,sql,build_index,register");
    g_relayout = NULL;

    /* the other layout keys: a relayout version, its ensure_table marked */
    now = base();
    now.primary_key = (StrList){(const char *[]){"id", "created_at"}, 2};
    CHECK(plan(&old, 1, &now, 1, &a, &m, &changed, &err) && changed);
    CHECK_STR(actions(&m, &a), "ensure_table,premake,sql,build_index,register");
    CHECK_STR(step_arg(&m.steps[0], "relayout"), "yes");
    CHECK_STR(m.name, "p_relayout");
    now = base();
    now.existing.method = EXISTING_ATTACH;
    CHECK(plan(&old, 1, &now, 1, &a, &m, &changed, &err) && changed);
    CHECK_STR(step_arg(&m.steps[0], "relayout"), "yes");

    /* removed policy: refused unless forgotten explicitly */
    CHECK(!plan(&old, 1, NULL, 0, &a, &m, &changed, &err));
    CHECK(err.code == PM_EINPUT && strstr(err.msg, "every table") != NULL);
    CHECK(strstr(err.hint, "--forget public.t") != NULL);
    static const char *const forget_t[] = {"public.t"};
    g_forget = forget_t;
    CHECK(plan(&old, 1, NULL, 0, &a, &m, &changed, &err) && changed);
    g_forget = NULL;
    CHECK_STR(actions(&m, &a), "unregister");
    CHECK(m.nforgets == 1);
    CHECK_STR(m.forgets[0], "public.t");
    CHECK_STR(m.name, "policies_forget");
    arena_free(&a);
}

int main(void)
{
    new_tables();
    deltas();
    return check_report();
}
