/* workload.c: the workload check of a conversion's pre-flight.  Reads the
 * statements pg_stat_statements saw on the table, keeps the frequent ones,
 * and plans each (a generic plan) against a temporary table partitioned as
 * the policy says, to tell which cannot prune partitions: a writer that
 * reaches rows by id probes every partition once the table is partitioned
 * by time.
 *
 * How a statement is planned, and why so:
 * - The statement's relation is matched in its parse tree (libpg_query,
 *   workload_text.c): a schema-qualified name of the table, or an
 *   unqualified one that the search_path configured for the statement's
 *   role resolves to the table.
 * - The new table does not exist before the conversion starts, so a table
 *   of its shape is made in pg_temp, under the table's own name (column
 *   references such as orders.id keep working), with up to
 *   WORKLOAD_SHAPE_PARTITIONS of the layout's partitions and the converted
 *   table's primary key.  The statement's references to the table are
 *   rewritten, at the byte locations the parse tree gives, to
 *   pg_temp."table"; nothing else in the text changes.  No rename of the
 *   real table (that would take its ACCESS EXCLUSIVE lock).
 * - Everything runs in a session of its own (preflight.c opens it): what a
 *   role's code does to session state (advisory locks, prepared statements)
 *   never reaches the session of partmig's runner, and ends with it.
 * - Everything runs in one transaction that is rolled back, read-only once
 *   the temporary table exists, under statement_timeout and lock_timeout,
 *   with plan_cache_mode = force_generic_plan.  A statement is only
 *   PREPAREd and EXPLAINed (EXPLAIN EXECUTE with NULL for every parameter,
 *   never ANALYZE), as the role that ran it: anything the planner evaluates
 *   of it (an immutable function folded, a stable one in a pruning step, a
 *   domain's check on a NULL parameter) runs with that role's rights, never
 *   partmig's.  SET ROLE alone would not hold: code running after it may
 *   RESET ROLE (set_config('role', 'none')) back to partmig's session user.
 *   So PREPARE and EXPLAIN run inside a SECURITY DEFINER function owned by
 *   that role (pg_temp.partmig_plan_N, made in the transaction), where
 *   PostgreSQL refuses any change of role or session authorization; only
 *   partmig's role may execute it (not PUBLIC, not its owner: another
 *   role's code must not plan through it as that role).  While a role's
 *   search_path is set, partmig's own statements name no operator and no
 *   type that path could resolve to that role's objects.
 *   PREPARE works on every PostgreSQL version (EXPLAIN (GENERIC_PLAN) is 16+
 *   and skips the startup pruning this check reads).
 * - A plan prunes when no scan under one Append reads every partition of
 *   the shape; NULL parameters make startup pruning remove every partition
 *   a partition-key condition can exclude ("Subplans Removed"). */
#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/quote.h"
#include "workload_internal.h"

/* Per role: does the unqualified name resolve to the table? */
typedef struct RoleResolution {
    const char *role;
    const char *path;   /* its search_path */
    int state;          /* 1 the table, 0 another relation or none, -1 cannot act as the role */
    const char *reason; /* with -1 */
    const char *fn;     /* pg_temp.partmig_plan_N, owned by the role; NULL: not made */
    const char *fn_why; /* why it could not be made */
} RoleResolution;

typedef struct Check {
    PgConn *c;
    const WorkloadTarget *t;
    WorkloadReport *r;
    Arena *a;
    const char *oid; /* the table's */
    Candidate *cand;
    int ncand;
    RoleResolution *roles;
    int nroles;
    int shape; /* partitions of the shape table */
} Check;

/* ---- running ---- */

/* A failure the check reports as its outcome, unless the connection is
 * gone (then the caller fails). */
static const char *failure(Check *k, const Err *e)
{
    const char *m = e->msg;
    return workload_shown(k->a, m, 300);
}

static bool savepoint(PgConn *c, Err *err)
{
    return pg_run(c, "SAVEPOINT " STATEMENT_NAME, err);
}

static bool rollback_to(PgConn *c, Err *err)
{
    return pg_run(c, "ROLLBACK TO SAVEPOINT " STATEMENT_NAME, err);
}

/* The search_path configured for ROLE in this database (ALTER ROLE ... SET,
 * ALTER DATABASE ... SET, else the server's). */
static const char *role_path_sql(void)
{
    return "SELECT coalesce("
           " (SELECT substr(s.c, 13) FROM (SELECT unnest(d.setconfig) c, d.setdatabase FROM "
           "pg_catalog.pg_db_role_setting d"
           "   WHERE d.setrole = r.oid AND d.setdatabase IN (0, db.oid)) s WHERE s.c LIKE 'search\\_path=%'"
           "   ORDER BY s.setdatabase DESC LIMIT 1),"
           " (SELECT substr(s.c, 13) FROM (SELECT unnest(d.setconfig) c FROM pg_catalog.pg_db_role_setting d"
           "   WHERE d.setrole = 0 AND d.setdatabase = db.oid) s WHERE s.c LIKE 'search\\_path=%' LIMIT 1),"
           " (SELECT reset_val FROM pg_catalog.pg_settings WHERE name = 'search_path')), pg_catalog.pg_has_role(r.oid, "
           "'MEMBER')"
           " FROM pg_catalog.pg_roles r, pg_catalog.pg_database db"
           " WHERE r.rolname = $1 AND db.datname = pg_catalog.current_database()";
}

static RoleResolution *role_of(Check *k, const char *role)
{
    for (int i = 0; i < k->nroles; i++)
        if (!strcmp(k->roles[i].role, role))
            return &k->roles[i];
    return NULL;
}

/* Act as ROLE with its search_path, inside the current savepoint.  False
 * with *WHY set when partmig's role may not. */
static bool become(Check *k, RoleResolution *rr, const char **why, Err *err)
{
    const char *p1[] = {rr->path};
    const char *p2[] = {rr->role};
    Err e;
    if (!pg_exec(k->c, "SELECT pg_catalog.set_config('search_path', $1, true)", 1, p1, NULL, &e) ||
        !pg_exec(k->c, "SELECT pg_catalog.set_config('role', $1, true)", 1, p2, NULL, &e)) {
        if (!pg_ok(k->c)) {
            *err = e;
            return false;
        }
        *why =
            arena_printf(k->a, "cannot plan it as role \"%s\": %s", workload_shown(k->a, rr->role, 64), failure(k, &e));
        return false;
    }
    return true;
}

/* For every role that ran a statement naming the table without its
 * schema: its search_path, and whether that name resolves to the table. */
static bool resolve_roles(Check *k, Err *err)
{
    k->roles = arena_alloc(k->a, sizeof *k->roles * (size_t)(k->ncand + 1));
    for (int i = 0; i < k->ncand; i++) {
        Candidate *cd = &k->cand[i];
        if (!cd->role || role_of(k, cd->role))
            continue;
        RoleResolution *rr = &k->roles[k->nroles++];
        rr->role = cd->role;
        const char *p[] = {cd->role};
        PgResult *res = NULL;
        if (!pg_exec(k->c, role_path_sql(), 1, p, &res, err))
            return false;
        bool member = pg_nrows(res) > 0 && pg_get(res, 0, 1)[0] == 't';
        rr->path = pg_nrows(res) > 0 ? arena_strdup(k->a, pg_get(res, 0, 0)) : "";
        pg_result_free(res);
        if (!member) {
            rr->state = -1;
            rr->reason = arena_printf(k->a,
                                      "partmig's role cannot act as role \"%s\", which ran it (grant that role to "
                                      "partmig's, or run partmig as a superuser)",
                                      workload_shown(k->a, cd->role, 64));
            continue;
        }
        /* only needed for unqualified names, but cheap: once per role */
        const char *why = NULL;
        if (!savepoint(k->c, err))
            return false;
        if (!become(k, rr, &why, err) && !why)
            return false;
        if (why) {
            rr->state = -1;
            rr->reason = why;
        } else {
            Buf q = {0};
            quote_ident(&q, k->t->table);
            /* compared here: under the role's search_path an operator or
             * a type name could resolve to that role's objects */
            const char *p2[] = {buf_str(&q)};
            PgResult *rel = NULL;
            Err e;
            if (pg_exec(k->c, "SELECT pg_catalog.to_regclass($1)::pg_catalog.oid::pg_catalog.text", 1, p2, &rel, &e)) {
                rr->state = pg_nrows(rel) == 1 && !pg_isnull(rel, 0, 0) && !strcmp(pg_get(rel, 0, 0), k->oid) ? 1 : 0;
                pg_result_free(rel);
            } else if (!pg_ok(k->c)) {
                buf_free(&q);
                *err = e;
                return false;
            } else {
                rr->state = -1;
                rr->reason = failure(k, &e);
            }
            buf_free(&q);
        }
        if (!rollback_to(k->c, err))
            return false;
    }
    for (int i = 0; i < k->ncand; i++) {
        Candidate *cd = &k->cand[i];
        RoleResolution *rr = cd->role ? role_of(k, cd->role) : NULL;
        cd->touches = cd->qualified || (cd->unqualified && (!rr || rr->state != 0));
        if (!cd->touches || cd->reason)
            continue;
        if (!rr)
            cd->reason = "the role that ran it no longer exists";
        else if (rr->state < 0)
            cd->reason = rr->reason;
        else if (cd->unqualified && rr->state == 0)
            cd->unqualified = false; /* that name is another relation: left as it is */
    }
    return true;
}

/* The shape table: TABLE in pg_temp, partitioned like the converted one. */
static bool make_shape(Check *k, const char **why, Err *err)
{
    const WorkloadTarget *t = k->t;
    Buf b = {0}, q = {0};
    quote_qualified(&q, "pg_temp", t->table);
    buf_printf(&b, "CREATE TEMPORARY TABLE %s (LIKE ", buf_str(&q));
    quote_qualified(&b, t->schema, t->table);
    buf_printf(&b, ") PARTITION BY %s (", t->by);
    quote_ident(&b, t->column);
    buf_append(&b, ");\n");
    /* the first partitions and the last (DEFAULT, when there is one):
     * whether a plan prunes does not depend on how many there are */
    int n = t->nspecs < WORKLOAD_SHAPE_PARTITIONS ? t->nspecs : WORKLOAD_SHAPE_PARTITIONS;
    for (int i = 0; i < n; i++) {
        const PartitionSpec *ps = &t->specs[i < n - 1 ? i : t->nspecs - 1];
        buf_printf(&b, "CREATE TEMPORARY TABLE pg_temp." SHAPE_PREFIX "%d PARTITION OF %s %s;\n", i + 1, buf_str(&q),
                   ps->bound_sql);
    }
    if (t->npk > 0) {
        buf_printf(&b, "ALTER TABLE %s ADD PRIMARY KEY (", buf_str(&q));
        for (int i = 0; i < t->npk; i++) {
            if (i)
                buf_append(&b, ", ");
            quote_ident(&b, t->pk[i]);
        }
        buf_append(&b, ");\n");
    }
    /* the roles the statements are planned as reach it (rolled back) */
    buf_printf(&b, "GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO PUBLIC;\n", buf_str(&q));
    Err e;
    bool ok = pg_exec_script(k->c, buf_str(&b), &e);
    if (!ok && !pg_ok(k->c))
        *err = e;
    else if (!ok)
        *why = arena_printf(k->a, "cannot make a temporary table of the converted shape: %s", failure(k, &e));
    k->shape = n;
    k->r->planned = n;
    buf_free(&b);
    buf_free(&q);
    return ok;
}

/* Walk a plan node: scans of shape partitions counted per nearest Append
 * (or MergeAppend); GROUP -1 outside any. */
typedef struct PlanCount {
    int *scans; /* per Append */
    int nappend, cap;
    int outside, removed;
} PlanCount;

static void plan_walk(PlanCount *pc, json_t *node, int group)
{
    const char *type = json_string_value(json_object_get(node, "Node Type"));
    const char *rel = json_string_value(json_object_get(node, "Relation Name"));
    if (type && (!strcmp(type, "Append") || !strcmp(type, "Merge Append"))) {
        if (pc->nappend == pc->cap) {
            pc->cap = pc->cap ? pc->cap * 2 : 8;
            pc->scans = realloc(pc->scans, sizeof *pc->scans * (size_t)pc->cap);
            if (!pc->scans)
                abort();
        }
        pc->scans[pc->nappend] = 0;
        group = pc->nappend++;
        pc->removed += (int)json_integer_value(json_object_get(node, "Subplans Removed"));
    } else if (type && strcmp(type, "ModifyTable") && rel && !strncmp(rel, SHAPE_PREFIX, strlen(SHAPE_PREFIX))) {
        if (group >= 0)
            pc->scans[group]++;
        else
            pc->outside++;
    }
    size_t i;
    json_t *child;
    json_array_foreach(json_object_get(node, "Plans"), i, child)
    {
        plan_walk(pc, child, group);
    }
}

/* The body of pg_temp.partmig_plan_N: PREPARE the text it is given (as
 * STATEMENT_NAME), then EXPLAIN EXECUTE it with NULL for every parameter.
 * Every name in it is qualified: it runs under the role's search_path. */
static const char *const planner_body =
    "DECLARE n integer; r text;\n"
    "BEGIN\n"
    "  EXECUTE sql;\n"
    "  SELECT pg_catalog.cardinality(p.parameter_types) INTO n FROM pg_catalog.pg_prepared_statements p\n"
    "   WHERE p.name OPERATOR(pg_catalog.=) '" STATEMENT_NAME "';\n"
    "  EXECUTE pg_catalog.concat('EXPLAIN (FORMAT JSON) EXECUTE " STATEMENT_NAME "',\n"
    "    pg_catalog.regexp_replace(pg_catalog.repeat(', NULL', n), '^, (.*)$', '(\\1)')) INTO r;\n"
    "  RETURN r;\n"
    "END";

/* For every role a chosen statement is planned as: its planning function
 * (before the transaction turns read-only).  A role it cannot be made for
 * (no TEMP right on the database, for a partmig that is not superuser)
 * gets a reason instead. */
static bool make_planners(Check *k, const int *chosen, int nchosen, Err *err)
{
    for (int r = 0; r < k->nroles; r++) {
        RoleResolution *rr = &k->roles[r];
        bool used = false;
        for (int i = 0; i < nchosen; i++) {
            const Candidate *cd = &k->cand[chosen[i]];
            used |= !cd->reason && cd->role && !strcmp(cd->role, rr->role);
        }
        if (!used || rr->state < 0)
            continue;
        const char *fn = arena_printf(k->a, "pg_temp.partmig_plan_%d", r + 1);
        Buf b = {0};
        buf_printf(&b, "CREATE FUNCTION %s(sql text) RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS ", fn);
        quote_literal(&b, planner_body);
        buf_printf(&b, ";\nALTER FUNCTION %s(text) OWNER TO ", fn);
        quote_ident(&b, rr->role);
        buf_printf(&b, ";\nREVOKE ALL ON FUNCTION %s(text) FROM PUBLIC, ", fn);
        quote_ident(&b, rr->role);
        buf_printf(&b, ";\nGRANT EXECUTE ON FUNCTION %s(text) TO CURRENT_USER", fn);
        Err e;
        if (!savepoint(k->c, err)) {
            buf_free(&b);
            return false;
        }
        bool ok = pg_exec_script(k->c, buf_str(&b), &e);
        buf_free(&b);
        if (ok) {
            rr->fn = fn;
            if (!pg_run(k->c, "RELEASE SAVEPOINT " STATEMENT_NAME, err))
                return false;
            continue;
        }
        if (!pg_ok(k->c)) {
            *err = e;
            return false;
        }
        rr->fn_why =
            arena_printf(k->a, "cannot plan it as role \"%s\": %s", workload_shown(k->a, rr->role, 64), failure(k, &e));
        if (!rollback_to(k->c, err) || !pg_run(k->c, "RELEASE SAVEPOINT " STATEMENT_NAME, err))
            return false;
    }
    return true;
}

/* Plan CD as its role (through its planning function); fill ST. */
static bool plan_one(Check *k, const Candidate *cd, WorkloadStatement *st, Err *err)
{
    RoleResolution *rr = role_of(k, cd->role);
    const char *why = rr->fn ? NULL : rr->fn_why ? rr->fn_why : "cannot plan it as its role";
    Err e;
    PgResult *res = NULL;
    const char *sql = why ? NULL : workload_rewrite(k->a, cd);
    if (sql && !workload_one_statement(sql))
        why = "its text, pointed at the partitioned shape, is not one statement";
    if (!why) {
        if (!savepoint(k->c, err))
            return false;
        /* the role's search_path, for its statement's names (pg_temp, where
         * the shape table is, last: a name the role resolves to another
         * relation keeps meaning it); the role itself is the function's owner */
        const char *p1[] = {strstr(rr->path, "pg_temp") ? rr->path
                            : rr->path[0]               ? arena_printf(k->a, "%s, pg_temp", rr->path)
                                                        : "pg_temp"};
        const char *p2[] = {sql};
        const char *call = arena_printf(k->a, "SELECT %s($1)", rr->fn);
        bool ok = pg_exec(k->c, "SELECT pg_catalog.set_config('search_path', $1, true)", 1, p1, NULL, &e) &&
                  pg_exec(k->c, call, 1, p2, &res, &e);
        if (ok) {
            json_t *plan = json_loads(pg_get(res, 0, 0), 0, NULL);
            json_t *root = json_object_get(json_array_get(plan, 0), "Plan");
            if (root) {
                PlanCount pc = {0};
                plan_walk(&pc, root, -1);
                st->checked = true;
                st->scanned = pc.outside ? 1 : 0;
                for (int i = 0; i < pc.nappend; i++)
                    if (pc.scans[i] > st->scanned)
                        st->scanned = pc.scans[i];
                st->removed = pc.removed;
                st->prunes = st->scanned < k->shape;
                free(pc.scans);
            } else
                why = "its plan cannot be read";
            json_decref(plan);
        } else if (!pg_ok(k->c)) {
            *err = e;
            return false;
        } else
            why = arena_printf(k->a, "cannot plan it: %s", failure(k, &e));
        pg_result_free(res);
        if (!rollback_to(k->c, err))
            return false;
        /* a prepared statement outlives the rollback: the name is reused */
        bool left = false;
        if (!pg_query_bool(k->c,
                           "SELECT EXISTS (SELECT FROM pg_catalog.pg_prepared_statements "
                           "WHERE name OPERATOR(pg_catalog.=) '" STATEMENT_NAME "')",
                           0, NULL, &left, err) ||
            (left && !pg_run(k->c, "DEALLOCATE " STATEMENT_NAME, err)))
            return false;
    }
    if (why)
        st->reason = why;
    return true;
}

/* The statements of the table, most called first. */
static bool read_statements(Check *k, const char *ext_schema, const char **why, Err *err)
{
    Buf q = {0};
    buf_printf(&q,
               "SELECT pg_catalog.left(s.query, %d), (pg_catalog.array_agg(r.rolname ORDER BY s.calls DESC))[1],"
               " sum(s.calls)::bigint, sum(s.total_exec_time)::float8, pg_catalog.length(s.query) > %d FROM ",
               TEXT_MAX, TEXT_MAX);
    quote_qualified(&q, ext_schema, "pg_stat_statements");
    buf_printf(&q,
               " s LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid"
               " WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = "
               "pg_catalog.current_database())"
               " AND s.query <> '<insufficient privilege>' AND strpos(lower(s.query), lower($1)) > 0"
               " GROUP BY s.queryid, s.query ORDER BY 3 DESC, 1 LIMIT %d",
               WORKLOAD_CANDIDATES);
    const char *p[] = {k->t->table};
    PgResult *res = NULL;
    Err e;
    bool ok = pg_exec(k->c, buf_str(&q), 1, p, &res, &e);
    buf_free(&q);
    if (!ok) {
        if (!pg_ok(k->c)) {
            *err = e;
            return false;
        }
        /* 55000: the view exists but the library is not loaded */
        *why = !strcmp(pg_last_sqlstate(k->c), "55000")
                   ? "pg_stat_statements is installed but not loaded (add it to shared_preload_libraries and restart "
                     "the server)"
                   : arena_printf(k->a, "cannot read pg_stat_statements: %s", failure(k, &e));
        return false;
    }
    k->cand = arena_alloc(k->a, sizeof *k->cand * (size_t)(pg_nrows(res) + 1));
    for (int i = 0; i < pg_nrows(res); i++) {
        Candidate *cd = &k->cand[k->ncand];
        memset(cd, 0, sizeof *cd);
        cd->text = arena_strdup(k->a, pg_get(res, i, 0));
        cd->role = pg_isnull(res, i, 1) ? NULL : arena_strdup(k->a, pg_get(res, i, 1));
        cd->calls = pg_get_int(res, i, 2);
        cd->total_ms = atof(pg_get(res, i, 3));
        if (pg_get(res, i, 4)[0] == 't') {
            /* the name is in the text (the query's filter): say it was not read */
            cd->qualified = true;
            cd->reason = "its text is longer than " TEXT_MAX_STR " characters: not read";
            k->ncand++;
        } else if (workload_parse(k->t, k->a, cd))
            k->ncand++;
    }
    pg_result_free(res);
    /* the statements of roles whose text this role may not read */
    buf_append(&q, "SELECT count(*) FROM ");
    quote_qualified(&q, ext_schema, "pg_stat_statements");
    buf_append(&q, " s WHERE s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = "
                   "pg_catalog.current_database()) AND s.query = '<insufficient privilege>'");
    const char *count = NULL;
    ok = pg_query_text(k->c, buf_str(&q), 0, NULL, k->a, &count, err);
    buf_free(&q);
    if (ok)
        k->r->unreadable = atoi(count);
    return ok;
}

/* The frequent statements: the WORKLOAD_TOP most called, and those with
 * WORKLOAD_TIME_SHARE % of the table's execution time, WORKLOAD_MAX at
 * most, none called fewer than WORKLOAD_MIN_CALLS times. */
static void select_frequent(Check *k, int **chosen, int *n)
{
    double total = 0;
    for (int i = 0; i < k->ncand; i++)
        if (k->cand[i].touches) {
            total += k->cand[i].total_ms;
            k->r->touching++;
        }
    *chosen = arena_alloc(k->a, sizeof **chosen * (size_t)(k->ncand + 1));
    *n = 0;
    int rank = 0;
    for (int i = 0; i < k->ncand && *n < WORKLOAD_MAX; i++) {
        const Candidate *cd = &k->cand[i];
        if (!cd->touches || cd->calls < WORKLOAD_MIN_CALLS)
            continue;
        double share = total > 0 ? 100.0 * cd->total_ms / total : 0;
        if (rank++ < WORKLOAD_TOP || share >= WORKLOAD_TIME_SHARE)
            (*chosen)[(*n)++] = i;
    }
}

bool workload_check(PgConn *c, const WorkloadTarget *t, WorkloadReport *r, Err *err)
{
    memset(r, 0, sizeof *r);
    Arena *a = &r->arena;
    Check k = {.c = c, .t = t, .r = r, .a = a};
    r->table = arena_printf(a, "%s.%s", t->schema, t->table);
    r->column = arena_strdup(a, t->column);
    r->partitions = t->partitions;
    bool ok = false, begun = false;
    const char *why = NULL;
    PgResult *res = NULL;
    if (t->nspecs < 2) {
        why = "the converted table starts with one partition: nothing to prune";
        goto skip;
    }
    if (pg_in_transaction(c)) {
        why = "called inside a transaction";
        goto skip;
    }
    if (!pg_exec(c,
                 "SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid ="
                 " e.extnamespace WHERE e.extname = 'pg_stat_statements'",
                 0, NULL, &res, err))
        goto done;
    if (pg_nrows(res) == 0) {
        why = "pg_stat_statements is not installed in this database (CREATE EXTENSION pg_stat_statements, with the "
              "library in shared_preload_libraries)";
        goto skip;
    }
    const char *ext_schema = arena_strdup(a, pg_get(res, 0, 0));
    const char *tp[] = {t->schema, t->table};
    if (!pg_query_text(c, "SELECT pg_catalog.format('%I.%I', $1::text, $2::text)::regclass::oid::text", 2, tp, a,
                       &k.oid, err))
        goto done;
    char settings[256];
    snprintf(settings, sizeof settings,
             "BEGIN; SET LOCAL statement_timeout = %d; SET LOCAL lock_timeout = %d;"
             " SET LOCAL plan_cache_mode = force_generic_plan",
             WORKLOAD_TIMEOUT_MS, WORKLOAD_LOCK_MS);
    if (!pg_exec_script(c, settings, err))
        goto done;
    begun = true;
    /* a superuser's check leaves no statements in the statistics it reads */
    Err untracked;
    if (!savepoint(c, err) ||
        (!pg_run(c, "SET LOCAL pg_stat_statements.track = 'none'", &untracked) && !rollback_to(c, err)))
        goto done;
    if (!read_statements(&k, ext_schema, &why, err)) {
        if (why)
            goto skip;
        goto done;
    }
    r->ran = true;
    if (!resolve_roles(&k, err))
        goto done;
    int *chosen = NULL, nchosen = 0;
    select_frequent(&k, &chosen, &nchosen);
    r->st = arena_alloc(a, sizeof *r->st * (size_t)(nchosen + 1));
    double total = 0;
    for (int i = 0; i < k.ncand; i++)
        total += k.cand[i].touches ? k.cand[i].total_ms : 0;
    const char *shape_why = NULL;
    bool need_shape = false;
    for (int i = 0; i < nchosen; i++)
        need_shape |= !k.cand[chosen[i]].reason;
    if (need_shape) {
        if (!make_shape(&k, &shape_why, err) && !shape_why)
            goto done;
        /* from here on nothing may write, whatever the planner calls */
        if (!shape_why &&
            (!make_planners(&k, chosen, nchosen, err) || !pg_run(c, "SET LOCAL transaction_read_only = on", err)))
            goto done;
    }
    for (int i = 0; i < nchosen; i++) {
        const Candidate *cd = &k.cand[chosen[i]];
        WorkloadStatement *st = &r->st[r->n++];
        st->shown = workload_shown(a, cd->text + cd->start, WORKLOAD_TEXT_SHOWN);
        st->role = cd->role ? workload_shown(a, cd->role, 64) : "";
        st->calls = cd->calls;
        st->mean_ms = cd->calls > 0 ? cd->total_ms / (double)cd->calls : 0;
        st->share = total > 0 ? 100.0 * cd->total_ms / total : 0;
        st->reason = cd->reason ? cd->reason : shape_why;
        if (!st->reason && !plan_one(&k, cd, st, err))
            goto done;
    }
    ok = true;
    goto done;
skip:
    r->skipped = why;
    ok = true;
done:
    pg_result_free(res);
    if (begun && pg_ok(c)) {
        Err ignored;
        if (!pg_run(c, "ROLLBACK", &ignored) && ok) {
            *err = ignored;
            ok = false;
        }
    }
    if (!ok && !pg_ok(c))
        err_hint(err, "the connection was lost during the workload check; run the command again");
    return ok;
}

int workload_unprunable(const WorkloadReport *r)
{
    int n = 0;
    for (int i = 0; i < r->n; i++)
        n += r->st[i].checked && !r->st[i].prunes;
    return n;
}

const char *workload_hint(const WorkloadReport *r, Arena *a)
{
    if (r->partitions <= 0)
        return arena_printf(a, "add \"%s\" to its WHERE clause, or accept that it scans every partition", r->column);
    return arena_printf(a, "add \"%s\" to its WHERE clause, or accept that it scans %d partitions", r->column,
                        r->partitions);
}

void workload_format(const WorkloadReport *r, bool warnings, Buf *out)
{
    if (!r->ran) {
        if (r->skipped)
            buf_printf(out, "partmig: workload check of \"%s\" skipped: %s\n", r->table, r->skipped);
        return;
    }
    int checked = 0;
    for (int i = 0; i < r->n; i++)
        checked += r->st[i].checked;
    buf_printf(out,
               "partmig: workload check of \"%s\": %d statement(s) on it in pg_stat_statements, %d frequent, %d "
               "planned against the partitioned layout, %d cannot prune (generic plans, as the roles that ran them, "
               "in a rolled-back transaction; the %d most called and those above %d%% of its execution time, at "
               "most %d, statement_timeout %d ms each)\n",
               r->table, r->touching, r->n, checked, workload_unprunable(r), WORKLOAD_TOP, WORKLOAD_TIME_SHARE,
               WORKLOAD_MAX, WORKLOAD_TIMEOUT_MS);
    Arena a = {0};
    for (int i = 0; i < r->n; i++) {
        const WorkloadStatement *st = &r->st[i];
        if (st->checked && !st->prunes && warnings)
            buf_printf(out,
                       "partmig: warning: a frequent statement on \"%s\" cannot prune partitions (%lld calls, mean "
                       "%.3f ms, role %s): %s\npartmig: hint: %s\n",
                       r->table, st->calls, st->mean_ms, st->role, st->shown, workload_hint(r, &a));
        else if (!st->checked)
            buf_printf(out, "partmig: workload: not checked (%lld calls, mean %.3f ms): %s: %s\n", st->calls,
                       st->mean_ms, st->shown, st->reason ? st->reason : "");
    }
    arena_free(&a);
    if (r->unreadable > 0)
        buf_printf(out,
                   "partmig: workload: %d statement(s) in pg_stat_statements of other roles cannot be read (their "
                   "text needs pg_read_all_stats): not checked\n",
                   r->unreadable);
}

json_t *workload_json(const WorkloadReport *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "ran", json_boolean(r->ran));
    json_object_set_new(o, "skipped", r->skipped ? json_string(r->skipped) : json_null());
    json_object_set_new(o, "table", json_string(r->table ? r->table : ""));
    json_object_set_new(o, "column", json_string(r->column ? r->column : ""));
    json_object_set_new(o, "partitions", json_integer(r->partitions));
    json_object_set_new(o, "partitions_planned", json_integer(r->planned));
    json_object_set_new(o, "touching", json_integer(r->touching));
    json_object_set_new(o, "unreadable", json_integer(r->unreadable));
    json_object_set_new(o, "cannot_prune", json_integer(workload_unprunable(r)));
    json_object_set_new(o, "limits",
                        json_pack("{s:i, s:i, s:i, s:i, s:i}", "top", WORKLOAD_TOP, "time_share_pct",
                                  WORKLOAD_TIME_SHARE, "max", WORKLOAD_MAX, "min_calls", WORKLOAD_MIN_CALLS,
                                  "statement_timeout_ms", WORKLOAD_TIMEOUT_MS));
    json_t *list = json_array();
    Arena a = {0};
    for (int i = 0; i < r->n; i++) {
        const WorkloadStatement *st = &r->st[i];
        json_t *s = json_pack("{s:s, s:s, s:I, s:f, s:f, s:b}", "query", st->shown, "role", st->role, "calls",
                              (json_int_t)st->calls, "mean_ms", st->mean_ms, "time_share_pct", st->share, "checked",
                              st->checked);
        if (st->checked) {
            json_object_set_new(s, "prunes", json_boolean(st->prunes));
            json_object_set_new(s, "partitions_scanned", json_integer(st->scanned));
            json_object_set_new(s, "subplans_removed", json_integer(st->removed));
            if (!st->prunes)
                json_object_set_new(s, "hint", json_string(workload_hint(r, &a)));
        } else
            json_object_set_new(s, "reason", json_string(st->reason ? st->reason : ""));
        json_array_append_new(list, s);
    }
    arena_free(&a);
    json_object_set_new(o, "statements", list);
    return o;
}

void workload_report_free(WorkloadReport *r)
{
    arena_free(&r->arena);
    r->st = NULL;
    r->n = 0;
}
