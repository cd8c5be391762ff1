/* ledger.c: the partmig schema -- creating or upgrading it from the
 * embedded sql/ledger.sql and sql/conversion.sql, and every query on its
 * tables. */
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/plan.h"
#include "catalog.h"
#include "sql_files.h"

/* The runner lock's two-int advisory key: 'part' and 'mig1'. */
#define LOCK_KEY1 "1885434484"
#define LOCK_KEY2 "1835624241"

static void itoa_buf(char *b, size_t n, int v)
{
    snprintf(b, n, "%d", v);
}

bool ledger_exists(PgConn *c, bool *exists, Err *err)
{
    PgResult *r = NULL;
    if (!pg_exec(c, "SELECT pg_catalog.to_regclass('partmig.migrations') IS NOT NULL", 0, NULL, &r, err))
        return false;
    *exists = !strcmp(pg_get(r, 0, 0), "t");
    pg_result_free(r);
    return true;
}

bool ledger_ensure(PgConn *c, const char *lock_timeout, Err *err)
{
    bool ok = false, untrusted = false;
    const char *p[1] = {lock_timeout ? lock_timeout : PLAN_LOCK_TIMEOUT};
    if (!pg_run(c, "BEGIN", err))
        return false;
    if (!pg_exec(c, "SELECT pg_catalog.set_config('lock_timeout', $1, true)", 1, p, NULL, err))
        goto done;
    /* the schema is checked again inside this transaction: it may have been
     * made by someone else since partmig connected */
    /* CREATE SCHEMA IF NOT EXISTS wants CREATE on the database even when
     * the schema exists: a schema made beforehand for a role without that
     * right would not help */
    bool have_schema = false;
    if (!pg_query_bool(c, "SELECT pg_catalog.to_regnamespace('partmig') IS NOT NULL", 0, NULL, &have_schema, err) ||
        (!have_schema && !pg_run(c, "CREATE SCHEMA partmig", err)))
        goto done;
    if (!catalog_check_schema_trust(c, "partmig", "the ledger", err)) {
        untrusted = true;
        goto done;
    }
    /* the SQL files run when the stored versions differ from this build's
     * (or the ledger is new): tables idempotent, functions CREATE OR
     * REPLACE -- the upgrade path; a current ledger is left alone */
    bool current = false;
    const char *v[2] = {LEDGER_VERSION, sql_files_version};
    if (!pg_query_bool(c, "SELECT pg_catalog.to_regclass('partmig.meta') IS NOT NULL", 0, NULL, &current, err) ||
        (current && !pg_query_bool(c,
                                   "SELECT count(*) = 2 FROM partmig.meta WHERE (key, value) IN "
                                   "(('ledger_version', $1), ('sql_version', $2))",
                                   2, v, &current, err)))
        goto done;
    if (!current) {
        if (!pg_exec_script(c, sql_file_ledger, err) || !pg_exec_script(c, sql_file_conversion, err))
            goto done;
        if (!pg_exec(c,
                     "INSERT INTO partmig.meta (key, value) VALUES ('ledger_version', $1), ('sql_version', $2) "
                     "ON CONFLICT (key) DO UPDATE SET value = excluded.value "
                     "WHERE partmig.meta.value <> excluded.value",
                     2, v, NULL, err))
            goto done;
    }
    ok = pg_run(c, "COMMIT", err);
done:
    if (!ok) {
        Err ignored;
        pg_run(c, "ROLLBACK", &ignored);
        if (untrusted)
            return false;
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        err_set(err, PM_EDB, "cannot create the ledger (schema \"partmig\"): %s", msg);
        err_hint(err, "the user needs CREATE on the database; run \"partmig apply\" again once fixed");
    }
    return ok;
}

bool ledger_load(PgConn *c, Arena *arena, Ledger *l, Err *err)
{
    memset(l, 0, sizeof *l);
    if (!ledger_exists(c, &l->exists, err))
        return false;
    if (!l->exists)
        return true;
    PgResult *r = NULL;
    bool conversions = false;
    if (!pg_query_bool(c, "SELECT pg_catalog.to_regclass('partmig.conversions') IS NOT NULL", 0, NULL, &conversions,
                       err))
        return false;
    /* pinned: see LedgerMigration */
    const char *sql =
        arena_printf(arena,
                     "SELECT version, name, checksum, state, coalesce(finished_at::text, ''), "
                     "state = 'applied' OR EXISTS (SELECT 1 FROM partmig.steps s WHERE s.version = m.version "
                     "AND s.state IN ('done', 'running')) "
                     "OR EXISTS (SELECT 1 FROM partmig.step_objects o WHERE o.version = m.version)%s "
                     "FROM partmig.migrations m ORDER BY version",
                     conversions ? " OR EXISTS (SELECT 1 FROM partmig.conversions v WHERE v.version = m.version)" : "");
    if (!pg_exec(c, sql, 0, NULL, &r, err))
        return false;
    l->nmigrations = pg_nrows(r);
    l->migrations = arena_alloc(arena, sizeof *l->migrations * (size_t)(l->nmigrations + 1));
    for (int i = 0; i < l->nmigrations; i++) {
        LedgerMigration *m = &l->migrations[i];
        m->version = (int)pg_get_int(r, i, 0);
        m->name = arena_strdup(arena, pg_get(r, i, 1));
        m->checksum = arena_strdup(arena, pg_get(r, i, 2));
        m->state = arena_strdup(arena, pg_get(r, i, 3));
        m->finished_at = arena_strdup(arena, pg_get(r, i, 4));
        m->pinned = !strcmp(pg_get(r, i, 5), "t");
    }
    pg_result_free(r);
    if (!pg_exec(c,
                 "SELECT version, step, action, coalesce(title, ''), state, coalesce(detail->>'mode', ''), attempts "
                 "FROM partmig.steps ORDER BY version, step",
                 0, NULL, &r, err))
        return false;
    l->nsteps = pg_nrows(r);
    l->steps = arena_alloc(arena, sizeof *l->steps * (size_t)(l->nsteps + 1));
    for (int i = 0; i < l->nsteps; i++) {
        LedgerStep *s = &l->steps[i];
        s->version = (int)pg_get_int(r, i, 0);
        s->step = (int)pg_get_int(r, i, 1);
        s->action = arena_strdup(arena, pg_get(r, i, 2));
        s->title = arena_strdup(arena, pg_get(r, i, 3));
        s->state = arena_strdup(arena, pg_get(r, i, 4));
        s->mode = arena_strdup(arena, pg_get(r, i, 5));
        s->attempts = (int)pg_get_int(r, i, 6);
    }
    pg_result_free(r);
    return true;
}

const LedgerMigration *ledger_migration(const Ledger *l, int version)
{
    for (int i = 0; i < l->nmigrations; i++)
        if (l->migrations[i].version == version)
            return &l->migrations[i];
    return NULL;
}

const LedgerStep *ledger_step(const Ledger *l, int version, int step)
{
    for (int i = 0; i < l->nsteps; i++)
        if (l->steps[i].version == version && l->steps[i].step == step)
            return &l->steps[i];
    return NULL;
}

bool ledger_objects(PgConn *c, int version, int step, Arena *arena, LedgerObject **out, int *n, Err *err)
{
    char v[16], s[16];
    itoa_buf(v, sizeof v, version);
    itoa_buf(s, sizeof s, step);
    const char *p[2] = {v, s};
    PgResult *r = NULL;
    if (!pg_exec(c,
                 "SELECT version, step, kind, schema_name, object_name, bound FROM partmig.step_objects "
                 "WHERE ($1::int = 0 OR version = $1::int) AND ($2::int = 0 OR step = $2::int) "
                 "ORDER BY version, step, kind, schema_name, object_name",
                 2, p, &r, err))
        return false;
    *n = pg_nrows(r);
    *out = arena_alloc(arena, sizeof **out * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) {
        LedgerObject *o = &(*out)[i];
        o->version = (int)pg_get_int(r, i, 0);
        o->step = (int)pg_get_int(r, i, 1);
        o->kind = arena_strdup(arena, pg_get(r, i, 2));
        o->schema = arena_strdup(arena, pg_get(r, i, 3));
        o->name = arena_strdup(arena, pg_get(r, i, 4));
        o->bound = arena_strdup(arena, pg_get(r, i, 5));
    }
    pg_result_free(r);
    return true;
}

bool ledger_migration_start(PgConn *c, int version, const char *name, const char *checksum, Err *err)
{
    char v[16];
    itoa_buf(v, sizeof v, version);
    const char *p[3] = {v, name, checksum};
    return pg_exec(c,
                   "INSERT INTO partmig.migrations (version, name, checksum, state, started_at) "
                   "VALUES ($1::int, $2, $3, 'running', clock_timestamp()) "
                   "ON CONFLICT (version) DO UPDATE SET name = excluded.name, checksum = excluded.checksum, "
                   "state = 'running', finished_at = NULL, duration_ms = NULL, "
                   "started_at = CASE WHEN partmig.migrations.state IN ('running', 'failed') "
                   "THEN partmig.migrations.started_at ELSE excluded.started_at END",
                   3, p, NULL, err);
}

bool ledger_migration_unpin(PgConn *c, int version, Err *err)
{
    char v[16];
    itoa_buf(v, sizeof v, version);
    const char *p[1] = {v};
    return pg_exec(c,
                   "DELETE FROM partmig.steps WHERE version = $1::int AND state NOT IN ('done', 'running') "
                   "AND NOT EXISTS (SELECT 1 FROM partmig.step_objects o WHERE o.version = $1::int)",
                   1, p, NULL, err);
}

bool ledger_migration_finish(PgConn *c, int version, const char *state, Err *err)
{
    char v[16];
    itoa_buf(v, sizeof v, version);
    const char *p[2] = {v, state};
    return pg_exec(c,
                   "UPDATE partmig.migrations SET state = $2, finished_at = clock_timestamp(), "
                   "duration_ms = (extract(epoch FROM clock_timestamp() - coalesce(started_at, clock_timestamp())) "
                   "* 1000)::bigint WHERE version = $1::int",
                   2, p, NULL, err);
}

bool ledger_step_record(PgConn *c, int version, int step, const char *action, const char *title, const char *state,
                        const char *mode, const char *error, Err *err)
{
    char v[16], s[16];
    itoa_buf(v, sizeof v, version);
    itoa_buf(s, sizeof s, step);
    const char *p[7] = {v, s, action, title ? title : "", state, mode, error};
    /* started_at: now() is the transaction's start, which is the step's
     * start for transactional steps (running and done in one transaction) */
    return pg_exec(c,
                   "INSERT INTO partmig.steps AS s (version, step, action, title, state, attempts, started_at, "
                   "finished_at, duration_ms, detail, error) "
                   "VALUES ($1::int, $2::int, $3, $4, $5, 1, now(), "
                   "CASE WHEN $5 <> 'running' THEN clock_timestamp() END, "
                   "CASE WHEN $5 <> 'running' THEN (extract(epoch FROM clock_timestamp() - now()) * 1000)::bigint END, "
                   "CASE WHEN $6::text IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('mode', $6::text) END, $7) "
                   "ON CONFLICT (version, step) DO UPDATE SET action = excluded.action, title = excluded.title, "
                   "state = excluded.state, attempts = s.attempts + (excluded.state = 'running' OR excluded.state = "
                   "'failed' AND s.state <> 'running')::int, "
                   "started_at = CASE WHEN excluded.state = 'running' AND s.state <> 'running' THEN now() "
                   "ELSE s.started_at END, "
                   "finished_at = CASE WHEN excluded.state = 'running' THEN NULL "
                   "WHEN excluded.state = 'rolled_back' THEN s.finished_at ELSE clock_timestamp() END, "
                   "duration_ms = CASE WHEN excluded.state = 'running' THEN NULL "
                   "WHEN excluded.state = 'rolled_back' THEN s.duration_ms "
                   "ELSE (extract(epoch FROM clock_timestamp() - s.started_at) * 1000)::bigint END, "
                   "detail = CASE WHEN $6::text IS NULL THEN s.detail "
                   "ELSE s.detail || jsonb_build_object('mode', $6::text) END, "
                   "error = excluded.error",
                   7, p, NULL, err);
}

bool ledger_object_add(PgConn *c, int version, int step, const char *kind, const char *schema, const char *name,
                       const char *bound, Err *err)
{
    char v[16], s[16];
    itoa_buf(v, sizeof v, version);
    itoa_buf(s, sizeof s, step);
    const char *p[6] = {v, s, kind, schema, name, bound ? bound : ""};
    return pg_exec(c,
                   "INSERT INTO partmig.step_objects (version, step, kind, schema_name, object_name, bound) "
                   "VALUES ($1::int, $2::int, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                   6, p, NULL, err);
}

bool ledger_objects_clear(PgConn *c, int version, int step, Err *err)
{
    char v[16], s[16];
    itoa_buf(v, sizeof v, version);
    itoa_buf(s, sizeof s, step);
    const char *p[2] = {v, s};
    return pg_exec(c, "DELETE FROM partmig.step_objects WHERE version = $1::int AND step = $2::int", 2, p, NULL, err);
}

/* Keep TABLE's current registration in VERSION:STEP's detail. */
static bool keep_previous(PgConn *c, const char *v, const char *s, const char *table, Err *err)
{
    const char *p[3] = {v, s, table};
    return pg_exec(c,
                   "UPDATE partmig.steps SET detail = detail || jsonb_build_object("
                   "'previous', (SELECT policy FROM partmig.policies WHERE table_name = $3), "
                   "'previous_version', (SELECT version FROM partmig.policies WHERE table_name = $3)) "
                   "WHERE version = $1::int AND step = $2::int",
                   3, p, NULL, err);
}

bool ledger_policy_register(PgConn *c, int version, int step, const char *table, const char *policy_json, Err *err)
{
    char v[16], s[16];
    itoa_buf(v, sizeof v, version);
    itoa_buf(s, sizeof s, step);
    if (!keep_previous(c, v, s, table, err))
        return false;
    const char *p[3] = {table, policy_json, v};
    return pg_exec(c,
                   "INSERT INTO partmig.policies (table_name, policy, version) VALUES ($1, $2::jsonb, $3::int) "
                   "ON CONFLICT (table_name) DO UPDATE SET policy = excluded.policy, version = excluded.version, "
                   "registered_at = now()",
                   3, p, NULL, err);
}

bool ledger_policy_unregister(PgConn *c, int version, int step, const char *table, Err *err)
{
    char v[16], s[16];
    itoa_buf(v, sizeof v, version);
    itoa_buf(s, sizeof s, step);
    if (!keep_previous(c, v, s, table, err))
        return false;
    const char *p[1] = {table};
    return pg_exec(c, "DELETE FROM partmig.policies WHERE table_name = $1", 1, p, NULL, err);
}

bool ledger_policy_restore(PgConn *c, int version, int step, const char *table, Err *err)
{
    char v[16], s[16];
    itoa_buf(v, sizeof v, version);
    itoa_buf(s, sizeof s, step);
    const char *p[3] = {v, s, table};
    if (!pg_exec(c,
                 "DELETE FROM partmig.policies WHERE table_name = $3 AND NOT EXISTS (SELECT 1 FROM partmig.steps "
                 "WHERE version = $1::int AND step = $2::int AND jsonb_typeof(detail->'previous') = 'object')",
                 3, p, NULL, err))
        return false;
    return pg_exec(c,
                   "INSERT INTO partmig.policies (table_name, policy, version) "
                   "SELECT $3, detail->'previous', (detail->>'previous_version')::int FROM partmig.steps "
                   "WHERE version = $1::int AND step = $2::int AND jsonb_typeof(detail->'previous') = 'object' "
                   "ON CONFLICT (table_name) DO UPDATE SET policy = excluded.policy, version = excluded.version, "
                   "registered_at = now()",
                   3, p, NULL, err);
}

bool ledger_policy_get(PgConn *c, const char *table, Arena *arena, const char **json, Err *err)
{
    const char *p[1] = {table};
    PgResult *r = NULL;
    if (!pg_exec(c, "SELECT policy::text FROM partmig.policies WHERE table_name = $1", 1, p, &r, err))
        return false;
    *json = arena_strdup(arena, pg_nrows(r) ? pg_get(r, 0, 0) : "");
    pg_result_free(r);
    return true;
}

bool ledger_policy_matches(PgConn *c, const char *table, const char *policy_json, bool *registered, bool *matches,
                           Err *err)
{
    const char *p[2] = {table, policy_json};
    PgResult *r = NULL;
    if (!pg_exec(c, "SELECT policy = $2::jsonb FROM partmig.policies WHERE table_name = $1", 2, p, &r, err))
        return false;
    *registered = pg_nrows(r) == 1;
    *matches = *registered && !strcmp(pg_get(r, 0, 0), "t");
    pg_result_free(r);
    return true;
}

bool ledger_policies(PgConn *c, Arena *arena, const char ***tables, const char ***jsons, int *n, Err *err)
{
    PgResult *r = NULL;
    if (!pg_exec(c, "SELECT table_name, policy::text FROM partmig.policies ORDER BY table_name", 0, NULL, &r, err))
        return false;
    *n = pg_nrows(r);
    *tables = arena_alloc(arena, sizeof **tables * (size_t)(*n + 1));
    *jsons = arena_alloc(arena, sizeof **jsons * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) {
        (*tables)[i] = arena_strdup(arena, pg_get(r, i, 0));
        (*jsons)[i] = arena_strdup(arena, pg_get(r, i, 1));
    }
    pg_result_free(r);
    return true;
}

bool ledger_batch_mismatches(PgConn *c, Arena *arena, int64_t *checked, int64_t *n, const char **what, Err *err)
{
    *checked = *n = 0;
    *what = "";
    PgResult *r = NULL;
    if (!pg_exec(c, "SELECT pg_catalog.to_regclass('partmig.batches') IS NOT NULL", 0, NULL, &r, err))
        return false;
    bool exists = !strcmp(pg_get(r, 0, 0), "t");
    pg_result_free(r);
    if (!exists)
        return true;
    if (!pg_exec(c,
                 "SELECT count(*), count(*) FILTER (WHERE source_rows <> target_rows), "
                 "coalesce(string_agg(pg_catalog.format('batch %s of conversion %s: %s source rows, %s in the target', "
                 "id, conversion, source_rows, target_rows), '; ') FILTER (WHERE source_rows <> target_rows), '') "
                 "FROM partmig.batches",
                 0, NULL, &r, err))
        return false;
    *checked = pg_get_int(r, 0, 0);
    *n = pg_get_int(r, 0, 1);
    *what = arena_strndup(arena, pg_get(r, 0, 2), 600);
    pg_result_free(r);
    return true;
}

bool ledger_try_lock(PgConn *c, bool *got, Err *err)
{
    PgResult *r = NULL;
    if (!pg_exec(c, "SELECT pg_catalog.pg_try_advisory_lock(" LOCK_KEY1 ", " LOCK_KEY2 ")", 0, NULL, &r, err))
        return false;
    *got = !strcmp(pg_get(r, 0, 0), "t");
    pg_result_free(r);
    return true;
}

bool ledger_lock_holder(PgConn *c, Arena *arena, const char **who, Err *err)
{
    return pg_query_text(c,
                         "SELECT format('pid %s (application \"%s\", user \"%s\", client %s, connected since %s, %s)', "
                         "l.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, '?'), "
                         "coalesce(host(a.client_addr), 'local socket'), "
                         "to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), "
                         "coalesce(a.state, 'unknown state') || coalesce(' since ' || to_char(a.state_change, "
                         "'HH24:MI:SS'), '')) "
                         "FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
                         "WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM "
                         "pg_catalog.pg_database WHERE datname = current_database()) "
                         "AND l.classid = " LOCK_KEY1 "::oid AND l.objid = " LOCK_KEY2 "::oid AND l.objsubid = 2 "
                         "AND l.pid <> pg_catalog.pg_backend_pid() LIMIT 1",
                         0, NULL, arena, who, err);
}

bool ledger_range_gaps(PgConn *c, const char *schema, const char *table, Arena *arena, const char **gaps, Err *err)
{
    const char *p[2] = {schema, table}, *type = "";
    *gaps = "";
    if (!pg_query_text(c,
                       "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_partitioned_table pt"
                       " JOIN pg_catalog.pg_class c ON c.oid = pt.partrelid"
                       " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                       " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = pt.partattrs[0]"
                       " WHERE n.nspname = $1 AND c.relname = $2 AND pt.partstrat = 'r' AND pt.partnatts = 1",
                       2, p, arena, &type, err))
        return false;
    if (!*type)
        return true;
    /* the bounds as PostgreSQL prints them, compared as values of the key's
     * type (the type name is the server's own format_type text) */
    const char *sql = arena_printf(
        arena,
        "WITH b AS (SELECT m[1] AS lo, m[2] AS hi FROM pg_catalog.pg_inherits i"
        " JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid,"
        " regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid), '^FOR VALUES FROM \\((.*)\\) TO \\((.*)\\)$') m"
        " WHERE i.inhparent = (pg_catalog.quote_ident($1) || '.' || pg_catalog.quote_ident($2))::regclass),"
        " t AS (SELECT CASE WHEN lo IN ('MINVALUE', 'MAXVALUE') THEN NULL"
        " ELSE replace(btrim(lo, ''''), '''''', '''')::%s END AS lo,"
        " CASE WHEN hi IN ('MINVALUE', 'MAXVALUE') THEN NULL"
        " ELSE replace(btrim(hi, ''''), '''''', '''')::%s END AS hi FROM b),"
        " g AS (SELECT prev_hi, lo FROM (SELECT lo, lag(hi) OVER (ORDER BY lo NULLS FIRST) AS prev_hi FROM t) x"
        " WHERE prev_hi IS NOT NULL AND lo IS NOT NULL AND prev_hi < lo)"
        " SELECT coalesce(string_agg(format('from %%s to %%s', prev_hi, lo), '; ' ORDER BY lo), '')"
        " || coalesce((SELECT '; plain tables named like its partitions: '"
        " || string_agg(format('%%I.%%I', $1, c.relname), ', ' ORDER BY c.relname)"
        " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relkind = 'r' AND NOT c.relispartition"
        " AND c.relname LIKE replace(replace($2, '_', '\\_'), '%%', '\\%%') || '\\_%%'"
        " AND c.relname NOT LIKE '%%partmig%%' AND EXISTS (SELECT 1 FROM g)), '')"
        " FROM g",
        type, type);
    return pg_query_text(c, sql, 2, p, arena, gaps, err);
}

bool ledger_index_retired(PgConn *c, const char *schema, const char *name, bool *retired, Err *err)
{
    const char *p[2] = {schema, name};
    bool exists = false;
    *retired = false;
    if (!pg_query_bool(c, "SELECT pg_catalog.to_regclass('partmig.retention_log') IS NOT NULL", 0, NULL, &exists, err))
        return false;
    if (!exists)
        return true;
    /* child index names start with the partition's name, or its first 46
     * bytes when shortened */
    return pg_query_bool(c,
                         "SELECT EXISTS (SELECT 1 FROM partmig.retention_log WHERE schema_name = $1"
                         " AND finished_at IS NOT NULL AND (starts_with($2, table_name || '_')"
                         " OR (length(table_name) > 46 AND starts_with($2, left(table_name, 46) || '_'))))",
                         2, p, retired, err);
}

bool ledger_lock_holder_info(PgConn *c, Arena *arena, LockHolder *h, Err *err)
{
    PgResult *r = NULL;
    memset(h, 0, sizeof *h);
    if (!pg_exec(c,
                 "SELECT l.pid, coalesce(a.application_name, ''), "
                 "format('pid %s (application \"%s\", user \"%s\", client %s, connected since %s)', l.pid, "
                 "coalesce(a.application_name, ''), coalesce(a.usename::text, '?'), "
                 "coalesce(host(a.client_addr), 'local socket'), "
                 "to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ')), "
                 "coalesce(a.state, 'unknown state') || ' since ' || "
                 "coalesce(to_char(CASE WHEN a.state = 'active' THEN a.query_start ELSE a.state_change END, "
                 "'YYYY-MM-DD HH24:MI:SS TZ'), '?'), "
                 "CASE WHEN a.state = 'active' THEN left(regexp_replace(a.query, '\\s+', ' ', 'g'), 100) ELSE '' END "
                 "FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
                 "WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM "
                 "pg_catalog.pg_database WHERE datname = current_database()) "
                 "AND l.classid = " LOCK_KEY1 "::oid AND l.objid = " LOCK_KEY2 "::oid AND l.objsubid = 2 "
                 "AND l.pid <> pg_catalog.pg_backend_pid() LIMIT 1",
                 0, NULL, &r, err))
        return false;
    if (pg_nrows(r) > 0) {
        h->pid = (int)pg_get_int(r, 0, 0);
        h->application = arena_strdup(arena, pg_get(r, 0, 1));
        h->who = arena_strdup(arena, pg_get(r, 0, 2));
        h->since = arena_strdup(arena, pg_get(r, 0, 3));
        h->query = arena_strdup(arena, pg_get(r, 0, 4));
    }
    pg_result_free(r);
    return true;
}

bool ledger_retired(PgConn *c, const char *schema, const char *name, Arena *arena, bool *retired, const char **when,
                    Err *err)
{
    const char *p[2] = {schema, name};
    bool exists;
    *retired = false;
    *when = "";
    /* the log exists once maintain has removed something */
    if (!pg_query_bool(c, "SELECT pg_catalog.to_regclass('partmig.retention_log') IS NOT NULL", 0, NULL, &exists, err))
        return false;
    if (!exists)
        return true;
    if (!pg_query_text(c,
                       "SELECT finished_at::text FROM partmig.retention_log WHERE schema_name = $1 "
                       "AND table_name = $2 AND finished_at IS NOT NULL",
                       2, p, arena, when, err))
        return false;
    *retired = **when != '\0';
    return true;
}

bool ledger_maintain_ready(PgConn *c, bool *ready, Err *err)
{
    return pg_query_bool(c, "SELECT pg_catalog.to_regclass('partmig.maintain_runs') IS NOT NULL", 0, NULL, ready, err);
}

bool ledger_maintain_start(PgConn *c, const char *table, Err *err)
{
    const char *p[1] = {table};
    return pg_exec(
        c,
        "INSERT INTO partmig.maintain_runs AS m (table_name, started_at, result) "
        "VALUES ($1, clock_timestamp(), 'running') ON CONFLICT (table_name) DO UPDATE SET "
        "started_at = excluded.started_at, finished_at = NULL, result = 'running', error = NULL, changes = 0",
        1, p, NULL, err);
}

bool ledger_maintain_finish(PgConn *c, const char *table, bool ok, const char *error, int changes, Err *err)
{
    char n[16];
    itoa_buf(n, sizeof n, changes);
    const char *p[4] = {table, ok ? "ok" : "failed", ok ? NULL : (error ? error : ""), n};
    return pg_exec(c,
                   "UPDATE partmig.maintain_runs SET finished_at = clock_timestamp(), result = $2, error = $3, "
                   "changes = $4::int, last_ok_at = CASE WHEN $2 = 'ok' THEN clock_timestamp() ELSE last_ok_at END "
                   "WHERE table_name = $1",
                   4, p, NULL, err);
}

bool ledger_maintain_runs(PgConn *c, Arena *arena, LedgerMaintainRun **out, int *n, Err *err)
{
    bool ready = false;
    *out = NULL;
    *n = 0;
    if (!ledger_maintain_ready(c, &ready, err))
        return false;
    PgResult *r = NULL;
    /* the epoch columns: unix seconds, NULL when never */
    const char *sql =
        ready
            ? "SELECT p.table_name, extract(epoch FROM p.registered_at), m.result, coalesce(m.error, ''), "
              "extract(epoch FROM m.started_at), extract(epoch FROM m.finished_at), extract(epoch FROM m.last_ok_at), "
              "coalesce(m.changes, 0) FROM partmig.policies p "
              "LEFT JOIN partmig.maintain_runs m ON m.table_name = p.table_name ORDER BY p.table_name"
            : "SELECT table_name, extract(epoch FROM registered_at), NULL, '', NULL, NULL, NULL, 0 "
              "FROM partmig.policies ORDER BY table_name";
    if (!pg_exec(c, sql, 0, NULL, &r, err))
        return false;
    *n = pg_nrows(r);
    *out = arena_alloc(arena, sizeof **out * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) {
        LedgerMaintainRun *m = &(*out)[i];
        memset(m, 0, sizeof *m);
        m->table = arena_strdup(arena, pg_get(r, i, 0));
        m->registered_at = strtod(pg_get(r, i, 1), NULL);
        m->result = pg_isnull(r, i, 2) ? "" : arena_strdup(arena, pg_get(r, i, 2));
        m->error = arena_strdup(arena, pg_get(r, i, 3));
        m->started_at = pg_isnull(r, i, 4) ? -1 : strtod(pg_get(r, i, 4), NULL);
        m->finished_at = pg_isnull(r, i, 5) ? -1 : strtod(pg_get(r, i, 5), NULL);
        m->last_ok_at = pg_isnull(r, i, 6) ? -1 : strtod(pg_get(r, i, 6), NULL);
        m->changes = (int)pg_get_int(r, i, 7);
    }
    pg_result_free(r);
    return true;
}

/* ---- maintain's reads and writes: open conversions, the retention record ---- */

bool ledger_conversion_open(PgConn *c, const char *schema, const char *table, Arena *arena, bool *open,
                            const char **kept, Err *err)
{
    bool exists;
    *open = false;
    *kept = "";
    if (!pg_query_bool(c, "SELECT pg_catalog.to_regclass('partmig.conversions') IS NOT NULL", 0, NULL, &exists, err))
        return false;
    if (!exists)
        return true;
    const char *p[2] = {schema, table};
    PgResult *r = NULL;
    if (!pg_exec(c,
                 "SELECT coalesce(kept_name, '') FROM partmig.conversions WHERE table_schema = $1 AND table_name = $2 "
                 "AND state NOT IN ('finalized', 'rolled_back')",
                 2, p, &r, err))
        return false;
    if (pg_nrows(r) > 0) {
        *open = true;
        *kept = arena_strdup(arena, pg_get(r, 0, 0));
    }
    pg_result_free(r);
    return true;
}

bool ledger_retention_ensure(PgConn *c, Err *err)
{
    /* the table is part of sql/ledger.sql; a ledger made before it had the
     * table gets it with the upgrade */
    bool exists = false;
    if (!ledger_retention_exists(c, &exists, err))
        return false;
    return exists || ledger_ensure(c, NULL, err);
}

bool ledger_retention_exists(PgConn *c, bool *exists, Err *err)
{
    return pg_query_bool(c, "SELECT pg_catalog.to_regclass('partmig.retention_log') IS NOT NULL", 0, NULL, exists, err);
}

bool ledger_retention_add(PgConn *c, const char *parent, const char *schema, const char *name, const char *bound,
                          Err *err)
{
    const char *p[4] = {schema, name, parent, bound};
    return pg_exec(c,
                   "INSERT INTO partmig.retention_log (schema_name, table_name, parent, bound) "
                   "VALUES ($1, $2, $3, $4) ON CONFLICT (schema_name, table_name) DO UPDATE "
                   "SET parent = $3, bound = $4, recorded_at = now(), finished_at = NULL",
                   4, p, NULL, err);
}

bool ledger_retention_finish(PgConn *c, const char *schema, const char *name, Err *err)
{
    const char *p[2] = {schema, name};
    /* kept as the record that retention removed it (verify reads it) */
    return pg_exec(c, "UPDATE partmig.retention_log SET finished_at = now() WHERE schema_name = $1 AND table_name = $2",
                   2, p, NULL, err);
}

bool ledger_retention_pending(PgConn *c, const char *parent, Arena *arena, const char ***schemas, const char ***names,
                              const char ***bounds, int *n, Err *err)
{
    const char *p[1] = {parent};
    PgResult *r = NULL;
    if (!pg_exec(c,
                 "SELECT schema_name, table_name, bound FROM partmig.retention_log WHERE parent = $1 "
                 "AND finished_at IS NULL ORDER BY recorded_at, table_name",
                 1, p, &r, err))
        return false;
    *n = pg_nrows(r);
    *schemas = pg_column_strings(r, 0, arena);
    *names = pg_column_strings(r, 1, arena);
    *bounds = pg_column_strings(r, 2, arena);
    pg_result_free(r);
    return true;
}
