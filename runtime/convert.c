/* convert.c: converting an existing table (copy with change capture and a
 * short swap, or zero-copy attach), its resumable state machine in
 * partmig.conversions, undo, and `partmig finalize`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../commands.h"
#include "../common/quote.h"
#include "../compiler/partitions.h"
#include "convert_internal.h"
#include "progress.h"
#include "runner.h"

#define RESYNC_BATCH    200 /* keys per re-copy transaction: its row locks make writers of those rows wait */
#define RESYNC_PENDING  100 /* swap when fewer changed keys wait: the swap re-copies them under its lock */
#define RESYNC_MAX_SECS 600
#define DEFAULT_LOCK_MS 500
#define DEFAULT_RETRIES 40

const char *convert_ledger_ddl(void)
{
    return "CREATE SCHEMA IF NOT EXISTS partmig;\n"
           "CREATE TABLE IF NOT EXISTS partmig.conversions (\n"
           "    id bigserial PRIMARY KEY,\n"
           "    table_schema text NOT NULL,\n"
           "    table_name text NOT NULL,\n"
           "    method text NOT NULL CHECK (method IN ('copy', 'attach')),\n"
           "    state text NOT NULL CHECK (state IN ('preflight', 'shadow_created', 'mirroring', 'backfilling',\n"
           "        'verified', 'swapped', 'finalized', 'rolled_back')),\n"
           "    version integer, step integer,\n"
           "    old_oid oid NOT NULL,\n"
           "    shadow_name text, kept_name text,\n"
           "    lower_bound text, upper_bound text,\n"
           "    rows_verified bigint, swap_ms double precision,\n"
           "    started_at timestamptz NOT NULL DEFAULT now(),\n"
           "    updated_at timestamptz NOT NULL DEFAULT now(),\n"
           "    swapped_at timestamptz, finished_at timestamptz\n"
           ");\n"
           "CREATE UNIQUE INDEX IF NOT EXISTS conversions_active ON partmig.conversions (table_schema, table_name)\n"
           "    WHERE state NOT IN ('finalized', 'rolled_back');\n"
           "CREATE TABLE IF NOT EXISTS partmig.conversion_jobs (\n"
           "    conversion bigint NOT NULL REFERENCES partmig.conversions (id),\n"
           "    job integer NOT NULL, key_lo text[], key_hi text[] NOT NULL,\n"
           "    PRIMARY KEY (conversion, job)\n"
           ");\n"
           "CREATE TABLE IF NOT EXISTS partmig.conversion_names (\n"
           "    conversion bigint NOT NULL REFERENCES partmig.conversions (id),\n"
           "    original text NOT NULL, parked text NOT NULL, staged text,\n"
           "    PRIMARY KEY (conversion, original)\n"
           ");\n"
           "CREATE TABLE IF NOT EXISTS partmig.batches (\n"
           "    id bigserial PRIMARY KEY,\n"
           "    conversion bigint NOT NULL REFERENCES partmig.conversions (id),\n"
           "    job integer NOT NULL,\n"
           "    key_lo text[], key_hi text[] NOT NULL,\n"
           "    source_rows bigint NOT NULL, copied_rows bigint NOT NULL, target_rows bigint NOT NULL,\n"
           "    ms double precision,\n"
           "    done_at timestamptz NOT NULL DEFAULT now()\n"
           ");\n"
           "CREATE INDEX IF NOT EXISTS batches_conversion ON partmig.batches (conversion, job, id);\n";
}

/* ---- the conversion context ---- */

typedef struct Conv {
    PgConn *c;
    const Policy *p;
    const ConvertOptions *o;
    Arena *a;
    TableFacts f;
    ConvRow row;
    const char *qname;   /* schema.table for messages */
    const char *q_table; /* "schema"."table" */
    const char *q_shadow, *q_kept;
    const char *q_log, *q_capture, *q_resync, *q_reverse, *q_guard; /* partmig.conv_N_* */
} Conv;

/* The first lines of every trigger function partmig installs: it acts
 * only as a trigger on the one table (by OID, so renames do not matter) it
 * was made for, or that table's partitions, whoever attaches it elsewhere. */
static const char *trigger_guard(Arena *a, const char *oid)
{
    return arena_printf(a,
                        "  IF coalesce(pg_catalog.pg_partition_root(TG_RELID), TG_RELID) IS DISTINCT FROM "
                        "%s::pg_catalog.oid THEN\n"
                        "    RAISE EXCEPTION 'partmig: this trigger function is not for table %%', "
                        "TG_RELID::pg_catalog.regclass;\n"
                        "  END IF;\n",
                        oid);
}

/* Nobody but its owner may call or attach FUNCTION(ARGS): a SECURITY
 * DEFINER trigger function attached to another table would write as
 * partmig's role.  (Triggers fire without an EXECUTE check.) */
static void revoke_public(Buf *b, const char *function, const char *args)
{
    buf_printf(b, "REVOKE ALL ON FUNCTION %s(%s) FROM PUBLIC;\n", function, args);
}

/* NAME + SUFFIX cut to PostgreSQL's 63 bytes (the base is shortened). */
static const char *name63(Arena *a, const char *base, const char *suffix)
{
    size_t bl = strlen(base), sl = strlen(suffix);
    if (bl + sl > 63)
        bl = 63 - sl;
    return arena_printf(a, "%.*s%s", (int)bl, base, suffix);
}

static void set_names(Conv *v)
{
    Arena *a = v->a;
    const char *id = v->row.id;
    v->q_shadow = v->row.shadow ? sql_qualified(a, v->p->schema, v->row.shadow) : NULL;
    v->q_kept = v->row.kept ? sql_qualified(a, v->p->schema, v->row.kept) : NULL;
    v->q_log = sql_qualified(a, "partmig", arena_printf(a, "conv_%s_log", id));
    v->q_capture = sql_qualified(a, "partmig", arena_printf(a, "conv_%s_capture", id));
    v->q_resync = sql_qualified(a, "partmig", arena_printf(a, "conv_%s_resync", id));
    v->q_reverse = sql_qualified(a, "partmig", arena_printf(a, "conv_%s_reverse", id));
    v->q_guard = sql_qualified(a, "partmig", arena_printf(a, "conv_%s_guard", id));
}

static int lock_ms(const Conv *v)
{
    return v->o && v->o->lock_timeout_ms > 0 ? v->o->lock_timeout_ms : DEFAULT_LOCK_MS;
}

static void rollback_quietly(PgConn *c)
{
    if (pg_ok(c) && pg_in_transaction(c)) {
        Err ignored;
        pg_run(c, "ROLLBACK", &ignored);
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef struct Locked {
    LockedBody body;
    void *ctx;
    int lock_ms, retries;
} Locked;

static bool locked_run(PgConn *c, const char *what, const Locked *l, Err *err)
{
    static unsigned seed;
    if (!seed)
        seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    char lt[32];
    snprintf(lt, sizeof lt, "%dms", l->lock_ms);
    for (int attempt = 0;; attempt++) {
        const char *params[] = {lt};
        bool ok = pg_run(c, "BEGIN", err) &&
                  pg_exec(c, "SELECT pg_catalog.set_config('lock_timeout', $1, true)", 1, params, NULL, err) &&
                  l->body(c, l->ctx, err) && pg_run(c, "COMMIT", err);
        if (ok)
            return true;
        const char *st = pg_last_sqlstate(c);
        bool retry = !strcmp(st, "55P03") || !strcmp(st, "40P01") || !strcmp(st, "40001");
        rollback_quietly(c);
        if (!retry || !pg_ok(c))
            return false;
        if (attempt >= l->retries) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            err_set(err, PM_EDB, "%s: could not get the lock within %s after %d attempts (%s)", what, lt, attempt + 1,
                    msg);
            return err_hint(err, "long transactions hold the table; run again when they are done (nothing changed)");
        }
        int base = 50 * (attempt < 10 ? attempt + 1 : 10);
        sleep_ms(base / 2 + (int)(rand_r(&seed) % (unsigned)base));
    }
}

bool run_locked(PgConn *c, const char *what, LockedBody body, void *ctx, Err *err)
{
    Locked l = {body, ctx, DEFAULT_LOCK_MS, DEFAULT_RETRIES};
    return locked_run(c, what, &l, err);
}

static bool conv_locked(Conv *v, const char *what, LockedBody body, Err *err)
{
    Locked l = {body, v, lock_ms(v), v->o && v->o->lock_retries > 0 ? v->o->lock_retries : DEFAULT_RETRIES};
    return locked_run(v->c, what, &l, err);
}

static bool set_state(Conv *v, const char *state, Err *err)
{
    const char *params[] = {v->row.id, state};
    if (!pg_exec(v->c, "UPDATE partmig.conversions SET state = $2, updated_at = now() WHERE id = $1::bigint", 2, params,
                 NULL, err))
        return false;
    v->row.state = arena_strdup(v->a, state);
    return true;
}

/* The latest conversion of the policy's table (active first). */
static bool load_row(Conv *v, Err *err)
{
    memset(&v->row, 0, sizeof v->row);
    PgResult *r = NULL;
    const char *params[] = {v->p->schema, v->p->table};
    if (!pg_exec(v->c,
                 "SELECT id::text, state, method, old_oid::text, shadow_name, kept_name, upper_bound, lower_bound"
                 " FROM partmig.conversions WHERE table_schema = $1 AND table_name = $2"
                 " ORDER BY (state NOT IN ('finalized', 'rolled_back')) DESC, id DESC LIMIT 1",
                 2, params, &r, err))
        return false;
    if (pg_nrows(r) > 0) {
        ConvRow *w = &v->row;
        w->found = true;
        w->id = arena_strdup(v->a, pg_get(r, 0, 0));
        w->state = arena_strdup(v->a, pg_get(r, 0, 1));
        w->method = arena_strdup(v->a, pg_get(r, 0, 2));
        w->old_oid = arena_strdup(v->a, pg_get(r, 0, 3));
        w->shadow = pg_isnull(r, 0, 4) ? NULL : arena_strdup(v->a, pg_get(r, 0, 4));
        w->kept = pg_isnull(r, 0, 5) ? NULL : arena_strdup(v->a, pg_get(r, 0, 5));
        w->upper = pg_isnull(r, 0, 6) ? NULL : arena_strdup(v->a, pg_get(r, 0, 6));
        w->lower = pg_isnull(r, 0, 7) ? NULL : arena_strdup(v->a, pg_get(r, 0, 7));
        set_names(v);
    }
    pg_result_free(r);
    return true;
}

static bool ledger_present(PgConn *c, bool *present, Err *err)
{
    PgResult *r = NULL;
    if (!pg_exec(c, "SELECT to_regclass('partmig.conversion_names') IS NOT NULL", 0, NULL, &r, err))
        return false;
    *present = pg_get(r, 0, 0)[0] == 't';
    pg_result_free(r);
    return true;
}

static bool state_is(const Conv *v, const char *s)
{
    return v->row.state && !strcmp(v->row.state, s);
}

/* Run a multi-statement script (DDL built by partmig, names quoted). */
static bool script(PgConn *c, const Buf *b, Err *err)
{
    if (b->len == 0)
        return true; /* an empty query string is an error to libpq */
    return pg_exec_script(c, buf_str(b), err);
}

/* ---- pieces shared by swap, undo and finalize ---- */

/* Dependent views of relation OID with their definitions, read before the
 * renames so re-creating them binds to the table that carries the name. */
static bool views_capture(Conv *v, const char *oid, Buf *out, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {oid};
    if (!pg_exec(v->c,
                 "SELECT DISTINCT vc.oid::regclass::text, pg_get_viewdef(vc.oid) FROM pg_depend d"
                 " JOIN pg_rewrite rw ON rw.oid = d.objid JOIN pg_class vc ON vc.oid = rw.ev_class"
                 " WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass"
                 " AND d.refobjid = $1::oid AND vc.oid <> $1::oid AND vc.relkind = 'v' ORDER BY 1",
                 1, params, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        /* the name and the definition are the server's own quoted text */
        const char *def = pg_get(r, i, 1);
        size_t n = strlen(def);
        while (n > 0 && (def[n - 1] == ';' || def[n - 1] == '\n' || def[n - 1] == ' '))
            n--;
        buf_printf(out, "CREATE OR REPLACE VIEW %s AS %.*s;\n", pg_get(r, i, 0), (int)n, def);
    }
    pg_result_free(r);
    return true;
}

/* "role [WITH GRANT OPTION];" of row I: the grantee in column WHO (NULL:
 * PUBLIC), is_grantable in column GRANTABLE. */
static void grantee_tail(Buf *out, const PgResult *r, int i, int who, int grantable)
{
    if (pg_isnull(r, i, who))
        buf_append(out, "PUBLIC");
    else
        quote_ident(out, pg_get(r, i, who));
    buf_append(out, pg_get(r, i, grantable)[0] == 't' ? " WITH GRANT OPTION;\n" : ";\n");
}

/* GRANT statements giving TO the privileges FROM_OID has (owner excluded). */
static bool grants_copy(Conv *v, const char *from_oid, const char *to, Buf *out, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {from_oid};
    if (!pg_exec(v->c,
                 "SELECT CASE WHEN g.grantee = 0 THEN NULL ELSE pg_get_userbyid(g.grantee) END, g.privilege_type,"
                 " g.is_grantable FROM pg_class c, aclexplode(c.relacl) g"
                 " WHERE c.oid = $1::oid AND g.grantee <> c.relowner ORDER BY 1, 2",
                 1, params, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        buf_printf(out, "GRANT %s ON %s TO ", pg_get(r, i, 1), to);
        grantee_tail(out, r, i, 0, 2);
    }
    pg_result_free(r);
    r = NULL;
    /* column privileges (attacl) */
    if (!pg_exec(v->c,
                 "SELECT a.attname, CASE WHEN g.grantee = 0 THEN NULL ELSE pg_get_userbyid(g.grantee) END,"
                 " g.privilege_type, g.is_grantable FROM pg_class c"
                 " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped,"
                 " aclexplode(a.attacl) g WHERE c.oid = $1::oid AND g.grantee <> c.relowner ORDER BY a.attnum, 2, 3",
                 1, params, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        buf_printf(out, "GRANT %s (", pg_get(r, i, 2));
        quote_ident(out, pg_get(r, i, 0));
        buf_printf(out, ") ON %s TO ", to);
        grantee_tail(out, r, i, 1, 3);
    }
    pg_result_free(r);
    return true;
}

/* Row level security of FROM_OID on TO: ENABLE/FORCE and every policy
 * (command, permissive or restrictive, roles, USING, WITH CHECK), so that
 * the converted table shows each role the same rows.  The expressions are
 * the server's own text (pg_get_expr, names qualified as needed under
 * partmig's search_path). */
static bool row_security_copy(Conv *v, const char *from_oid, const char *to, Buf *out, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {from_oid};
    if (!pg_exec(v->c, "SELECT c.relrowsecurity, c.relforcerowsecurity FROM pg_class c WHERE c.oid = $1::oid", 1,
                 params, &r, err))
        return false;
    if (pg_nrows(r) > 0 && pg_get(r, 0, 0)[0] == 't')
        buf_printf(out, "ALTER TABLE %s ENABLE ROW LEVEL SECURITY;\n", to);
    if (pg_nrows(r) > 0 && pg_get(r, 0, 1)[0] == 't')
        buf_printf(out, "ALTER TABLE %s FORCE ROW LEVEL SECURITY;\n", to);
    pg_result_free(r);
    r = NULL;
    if (!pg_exec(v->c,
                 "SELECT p.polname, p.polpermissive, p.polcmd::text,"
                 " ARRAY(SELECT CASE WHEN o = 0 THEN NULL ELSE pg_get_userbyid(o) END FROM unnest(p.polroles) o)::text,"
                 " pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)"
                 " FROM pg_policy p WHERE p.polrelid = $1::oid ORDER BY p.polname",
                 1, params, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        char cmd = pg_get(r, i, 2)[0];
        const char *cmd_sql = cmd == 'r'   ? "SELECT"
                              : cmd == 'a' ? "INSERT"
                              : cmd == 'w' ? "UPDATE"
                              : cmd == 'd' ? "DELETE"
                                           : "ALL";
        const char **roles = NULL;
        int nroles = 0;
        if (!sql_parse_text_array(pg_get(r, i, 3), v->a, &roles, &nroles)) {
            pg_result_free(r);
            return err_set(err, PM_EDB, "cannot read the roles of policy \"%s\" on \"%s\"", pg_get(r, i, 0), v->qname);
        }
        buf_append(out, "CREATE POLICY ");
        quote_ident(out, pg_get(r, i, 0));
        buf_printf(out, " ON %s AS %s FOR %s TO ", to, pg_get(r, i, 1)[0] == 't' ? "PERMISSIVE" : "RESTRICTIVE",
                   cmd_sql);
        for (int j = 0; j < nroles; j++) {
            if (j)
                buf_append(out, ", ");
            if (roles[j])
                quote_ident(out, roles[j]);
            else
                buf_append(out, "PUBLIC");
        }
        if (nroles == 0)
            buf_append(out, "PUBLIC");
        if (!pg_isnull(r, i, 4))
            buf_printf(out, " USING (%s)", pg_get(r, i, 4));
        if (!pg_isnull(r, i, 5))
            buf_printf(out, " WITH CHECK (%s)", pg_get(r, i, 5));
        buf_append(out, ";\n");
    }
    pg_result_free(r);
    return true;
}

/* The old table's storage parameters (fillfactor, autovacuum_*) on every
 * leaf partition of TABLE: a partitioned parent takes none itself. */
static bool reloptions_copy(Conv *v, const char *table, Buf *out, Err *err)
{
    if (v->f.nreloptions == 0)
        return true;
    Buf set = {0};
    for (int i = 0; i < v->f.nreloptions; i++) {
        const char *opt = v->f.reloptions[i], *eq = strchr(opt, '=');
        if (!eq)
            continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - opt), opt);
        if (set.len)
            buf_append(&set, ", ");
        quote_ident(&set, name);
        buf_append(&set, " = ");
        quote_literal(&set, eq + 1);
    }
    PgResult *r = NULL;
    const char *params[] = {table};
    bool ok = pg_exec(v->c,
                      "SELECT t.relid::regclass::text FROM pg_partition_tree($1::regclass) t WHERE t.isleaf"
                      " AND t.relid <> $1::regclass ORDER BY 1",
                      1, params, &r, err);
    for (int i = 0; ok && i < pg_nrows(r); i++)
        buf_printf(out, "ALTER TABLE %s SET (%s);\n", pg_get(r, i, 0), buf_str(&set));
    pg_result_free(r);
    buf_free(&set);
    return ok;
}

/* ALTER ... OWNER TO for TABLE and every relation in its partition tree. */
static bool owner_copy(Conv *v, const char *table, const char *owner, Buf *out, Err *err)
{
    PgResult *r = NULL;
    const char *p2[] = {table, owner};
    if (!pg_exec(v->c,
                 "SELECT t.relid::regclass::text FROM pg_partition_tree($1::regclass) t"
                 " JOIN pg_class c ON c.oid = t.relid WHERE pg_get_userbyid(c.relowner) <> $2",
                 2, p2, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        buf_printf(out, "ALTER TABLE %s OWNER TO ", pg_get(r, i, 0));
        quote_ident(out, owner);
        buf_append(out, ";\n");
    }
    pg_result_free(r);
    return true;
}

/* ALTER SEQUENCE ... OWNED BY TO.col for sequences owned by columns of FROM_OID. */
static bool sequences_move(Conv *v, const char *from_oid, const char *to, Buf *out, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {from_oid};
    if (!pg_exec(v->c,
                 "SELECT s.oid::regclass::text, a.attname FROM pg_depend d"
                 " JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
                 " JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
                 " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
                 " AND d.refobjid = $1::oid AND d.deptype = 'a' ORDER BY 1",
                 1, params, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        buf_printf(out, "ALTER SEQUENCE %s OWNED BY %s.", pg_get(r, i, 0), to);
        quote_ident(out, pg_get(r, i, 1));
        buf_append(out, ";\n");
    }
    pg_result_free(r);
    return true;
}

/* " OVERRIDING SYSTEM VALUE" for inserts of existing rows when the table
 * has identity columns: a GENERATED ALWAYS column refuses given values
 * without it, BY DEFAULT takes them either way. */
static const char *overriding(const Conv *v)
{
    return v->f.nident > 0 ? " OVERRIDING SYSTEM VALUE" : "";
}

/* An identity sequence as the server names it. */
typedef struct IdentSeq {
    const char *qname;  /* qualified quoted name (the server's regclass text) */
    const char *schema; /* its schema and name, unquoted */
    const char *name;
} IdentSeq;

static bool identity_seq(Conv *v, const char *table, const char *col, IdentSeq *s, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {table, col};
    if (!pg_exec(v->c,
                 "SELECT s.oid::regclass::text, n.nspname, s.relname FROM pg_class s"
                 " JOIN pg_namespace n ON n.oid = s.relnamespace"
                 " WHERE s.oid = pg_catalog.pg_get_serial_sequence($1, $2)::regclass",
                 2, params, &r, err))
        return false;
    bool found = pg_nrows(r) > 0;
    if (found) {
        s->qname = arena_strdup(v->a, pg_get(r, 0, 0));
        s->schema = arena_strdup(v->a, pg_get(r, 0, 1));
        s->name = arena_strdup(v->a, pg_get(r, 0, 2));
    }
    pg_result_free(r);
    if (!found)
        return err_set(err, PM_EDB, "identity column \"%s\" of %s has no sequence", col, table);
    return true;
}

/* Make the identity sequence of COL in TO continue where the one in FROM
 * stands (its last_value and is_called), so that values generated after
 * this never collide with values FROM's sequence handed out (cached ones
 * included: last_value counts them).  Runs under the caller's lock of both
 * tables; FROM_SEQ and TO_SEQ (may be NULL) receive the sequences. */
static bool identity_continue(Conv *v, const char *from, const char *to, const char *col, IdentSeq *from_seq,
                              IdentSeq *to_seq, Err *err)
{
    IdentSeq src, dst;
    PgResult *r = NULL;
    if (!identity_seq(v, from, col, &src, err) || !identity_seq(v, to, col, &dst, err))
        return false;
    /* the relation name is the server's own quoted text */
    if (!pg_exec(v->c, arena_printf(v->a, "SELECT last_value::text, is_called::text FROM %s", src.qname), 0, NULL, &r,
                 err))
        return false;
    const char *params[] = {dst.qname, arena_strdup(v->a, pg_get(r, 0, 0)), arena_strdup(v->a, pg_get(r, 0, 1))};
    pg_result_free(r);
    if (!pg_exec(v->c, "SELECT pg_catalog.setval($1::regclass, $2::bigint, $3::boolean)", 3, params, NULL, err))
        return false;
    if (from_seq)
        *from_seq = src;
    if (to_seq)
        *to_seq = dst;
    return true;
}

/* Exact per-partition counts of SRC (plain) and DST (partitioned), in one
 * REPEATABLE READ snapshot, without locks beyond ACCESS SHARE.  Keys listed
 * in LOG (may be NULL) are left out of both sides: their rows are re-synced
 * later.  *ROWS receives the total.  A mismatch: PM_EDB naming partitions. */
static bool verify_rows(Conv *v, const char *src, const char *dst, const char *log, bool fingerprint, int64_t *rows,
                        Err *err);

static bool verify_counts(Conv *v, const char *src, const char *dst, const char *log, int64_t *rows, Err *err)
{
    return verify_rows(v, src, dst, log, false, rows, err);
}

/* The row fingerprint summed per partition: the first 64 bits of the md5 of
 * each row's text, added up (numeric, no overflow).  Order does not matter,
 * so no sort; a changed, missing or extra row changes the sum (up to a
 * 2^-64 chance).  SRC and DST have the same columns in the same order
 * (CREATE TABLE ... LIKE), so equal rows have equal text. */
#define ROW_HASH "('x' || left(md5(o::text), 16))::bit(64)::bigint"

/* Like verify_counts; with FINGERPRINT each partition's rows are also
 * compared by content (ROW_HASH), in the same snapshot. */
static bool verify_rows(Conv *v, const char *src, const char *dst, const char *log, bool fingerprint, int64_t *rows,
                        Err *err)
{
    Arena *a = v->a;
    PgResult *r = NULL, *rs = NULL, *rd = NULL;
    bool ok = false;
    const char *kl = sql_column_list(a, v->f.key, v->f.nkey, "");
    const char *okl = sql_column_list(a, v->f.key, v->f.nkey, "o.");
    const char *lkl = sql_column_list(a, v->f.key, v->f.nkey, "l.");
    const char *excl =
        log ? arena_printf(a, " WHERE NOT EXISTS (SELECT 1 FROM %s l WHERE (%s) = (%s))", log, lkl, okl) : "";
    (void)kl;
    Buf q = {0}, bad = {0};
    /* row_security off: a role that policies filter gets an error instead of
     * comparing two filtered views of the tables */
    if (!pg_run(v->c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err) ||
        !pg_run(v->c, "SET LOCAL row_security = off", err))
        goto done;
    const char *params[] = {dst};
    if (!pg_exec(v->c,
                 "SELECT t.relid::oid::text, t.relid::regclass::text, pg_get_partition_constraintdef(t.relid)"
                 " FROM pg_partition_tree($1::regclass) t WHERE t.isleaf ORDER BY 2",
                 1, params, &r, err))
        goto done;
    int n = pg_nrows(r);
    buf_append(&q, "SELECT count(*)");
    for (int i = 0; i < n; i++) /* the partition constraints are the server's own expressions */
        buf_printf(&q, ", count(*) FILTER (WHERE %s)", pg_get(r, i, 2));
    if (fingerprint)
        for (int i = 0; i < n; i++)
            buf_printf(&q, ", coalesce(sum(" ROW_HASH ") FILTER (WHERE %s), 0)::text", pg_get(r, i, 2));
    buf_printf(&q, " FROM %s o%s", src, excl);
    if (!pg_exec(v->c, buf_str(&q), 0, NULL, &rs, err))
        goto done;
    buf_reset(&q);
    buf_printf(&q, "SELECT o.tableoid::oid::text, count(*), %s FROM %s o%s GROUP BY 1",
               fingerprint ? "coalesce(sum(" ROW_HASH "), 0)::text" : "''", dst, excl);
    if (!pg_exec(v->c, buf_str(&q), 0, NULL, &rd, err))
        goto done;
    if (!pg_run(v->c, "COMMIT", err))
        goto done;
    int64_t total_src = pg_get_int(rs, 0, 0), total_dst = 0, sum_src = 0;
    int nbad = 0;
    for (int i = 0; i < n; i++) {
        int64_t s = pg_get_int(rs, 0, 1 + i), d = 0;
        const char *dsum = "0";
        sum_src += s;
        for (int j = 0; j < pg_nrows(rd); j++)
            if (!strcmp(pg_get(rd, j, 0), pg_get(r, i, 0))) {
                d = pg_get_int(rd, j, 1);
                dsum = pg_get(rd, j, 2);
            }
        total_dst += d;
        if (s != d && nbad++ < 5)
            buf_printf(&bad, "%s%s: %lld in %s, %lld in %s", nbad > 1 ? "; " : "", pg_get(r, i, 1), (long long)s, src,
                       (long long)d, dst);
        else if (s == d && fingerprint && strcmp(pg_get(rs, 0, 1 + n + i), dsum) && nbad++ < 5)
            buf_printf(&bad, "%s%s: %lld rows each, but their contents differ between %s and %s", nbad > 1 ? "; " : "",
                       pg_get(r, i, 1), (long long)s, src, dst);
    }
    if (nbad > 0 || total_src != total_dst || sum_src != total_src) {
        err_set(err, PM_EDB, "verification failed for \"%s\": %lld rows in %s, %lld in %s (%lld fit no partition)%s%s",
                v->qname, (long long)total_src, src, (long long)total_dst, dst, (long long)(total_src - sum_src),
                nbad ? ": " : "", buf_str(&bad));
        err_hint(err, "nothing was swapped or dropped; find what writes around partmig's triggers, then run again");
        goto done;
    }
    *rows = total_src;
    ok = true;
done:
    if (!ok)
        rollback_quietly(v->c);
    pg_result_free(r);
    pg_result_free(rs);
    pg_result_free(rd);
    buf_free(&q);
    buf_free(&bad);
    return ok;
}

/* Refuse names that could end partmig's dollar quotes. */
static bool names_safe(const Conv *v, Err *err)
{
    for (int i = 0; i < v->f.ncols; i++)
        if (strstr(v->f.cols[i], "$pm"))
            return err_set(err, PM_EINPUT,
                           "column name \"%s\" of \"%s\" contains \"$pm\", which partmig cannot quote "
                           "in its trigger functions",
                           v->f.cols[i], v->qname);
    return true;
}

/* ---- copy: shadow, capture, backfill, verify, swap ---- */

static bool create_shadow(Conv *v, Err *err)
{
    Arena *a = v->a;
    const Policy *p = v->p;
    PartitionSpec *specs = NULL;
    int n = 0;
    const char *from = NULL, *to = NULL;
    Buf b = {0};
    bool ok = false;
    if (!preflight_layout(p, &v->f, a, &specs, &n, &from, &to, err))
        goto done;
    const char *by = p->by == PART_LIST ? "LIST" : p->by == PART_HASH ? "HASH" : "RANGE";
    buf_printf(&b,
               "CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING "
               "COMMENTS INCLUDING GENERATED INCLUDING COMPRESSION INCLUDING IDENTITY) PARTITION BY %s (%s);\n",
               v->q_shadow, v->q_table, by, sql_ident(a, p->column));
    /* INCLUDING IDENTITY: identity columns stay identity columns of the same
     * kind, with a new sequence of the same options on the parent (the
     * partitions have none: inserts go through the parent); the swap sets it
     * to continue after the old one */
    /* the primary key is built after the backfill (build_primary_key) */
    for (int i = 0; i < n; i++)
        partition_create_sql(&b, p, v->row.shadow, &specs[i]);
    for (int i = 0; i < v->f.nfk; i++)
        buf_printf(&b, "ALTER TABLE %s ADD CONSTRAINT %s %s;\n", v->q_shadow, sql_ident(a, v->f.fk_names[i]),
                   v->f.fk_defs[i]);
    if (v->f.replident == 'f')
        buf_printf(&b, "ALTER TABLE %s REPLICA IDENTITY FULL;\n", v->q_shadow);
    if (!pg_run(v->c, "BEGIN", err) || !script(v->c, &b, err))
        goto done;
    buf_reset(&b);
    if (!owner_copy(v, v->q_shadow, v->f.owner, &b, err) || !reloptions_copy(v, v->q_shadow, &b, err) ||
        !script(v->c, &b, err))
        goto done;
    const char *params[] = {v->row.id, from, to};
    if (!pg_exec(v->c, "UPDATE partmig.conversions SET lower_bound = $2, upper_bound = $3 WHERE id = $1::bigint", 3,
                 params, NULL, err) ||
        !set_state(v, "shadow_created", err) || !pg_run(v->c, "COMMIT", err))
        goto done;
    v->row.lower = from;
    v->row.upper = to;
    fprintf(stderr, "partmig: %s: created %s with %d partitions (%s .. %s)\n", v->qname, v->q_shadow, n,
            from ? from : "-", to ? to : "-");
    ok = true;
done:
    if (!ok)
        rollback_quietly(v->c);
    buf_free(&b);
    return ok;
}

static bool capture_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Arena *a = v->a;
    const TableFacts *f = &v->f;
    Buf b = {0};
    const char *kl = sql_column_list(a, f->key, f->nkey, "");
    const char *oldk = sql_column_list(a, f->key, f->nkey, "OLD.");
    const char *newk = sql_column_list(a, f->key, f->nkey, "NEW.");
    const char *rk = sql_column_list(a, f->key, f->nkey, "r.");
    const char *cols = sql_column_list(a, f->cols, f->ncols, "");
    buf_printf(&b, "CREATE TABLE %s (seq bigserial PRIMARY KEY", v->q_log);
    for (int i = 0; i < f->nkey; i++)
        buf_printf(&b, ", %s %s", sql_ident(a, f->key[i]), f->key_types[i]);
    buf_append(&b, ");\n");
    /* the trigger runs as its owner: application roles need no rights on partmig's log */
    buf_printf(&b,
               "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER"
               " SET search_path = pg_catalog, pg_temp AS $pm$\nBEGIN\n%s"
               "  IF TG_OP <> 'INSERT' THEN INSERT INTO %s (%s) VALUES (%s); END IF;\n"
               "  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (%s) IS DISTINCT FROM (%s)) THEN\n"
               "    INSERT INTO %s (%s) VALUES (%s);\n  END IF;\n  RETURN NULL;\nEND\n$pm$;\n",
               v->q_capture, trigger_guard(a, v->row.old_oid), v->q_log, kl, oldk, newk, oldk, v->q_log, kl, newk);
    buf_printf(&b,
               "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $pm$\nBEGIN\n"
               "  RAISE EXCEPTION 'table %% is being converted by partmig: TRUNCATE is refused until the conversion "
               "finishes or is rolled back', TG_TABLE_NAME;\nEND\n$pm$;\n",
               v->q_guard);
    /* re-copy the current version of each changed key; in the swap (wait) the
     * table is locked, otherwise a locked row is put back for a later round */
    buf_printf(&b,
               "CREATE FUNCTION %s(lim integer, wait boolean) RETURNS bigint LANGUAGE plpgsql"
               " SET search_path = pg_catalog, pg_temp AS $pm$\nDECLARE r record; n bigint := 0;\nBEGIN\n"
               "  FOR r IN WITH d AS (DELETE FROM %s WHERE seq IN (SELECT seq FROM %s ORDER BY seq LIMIT lim)"
               " RETURNING %s) SELECT DISTINCT %s FROM d LOOP\n"
               "    IF NOT wait THEN\n      BEGIN\n"
               "        PERFORM 1 FROM %s WHERE (%s) = (%s) FOR SHARE NOWAIT;\n"
               "      EXCEPTION WHEN lock_not_available THEN\n"
               "        INSERT INTO %s (%s) VALUES (%s);\n        CONTINUE;\n      END;\n    END IF;\n"
               "    DELETE FROM %s WHERE (%s) = (%s);\n"
               "    INSERT INTO %s (%s)%s SELECT %s FROM %s WHERE (%s) = (%s);\n"
               "    n := n + 1;\n  END LOOP;\n  RETURN n;\nEND\n$pm$;\n",
               v->q_resync, v->q_log, v->q_log, kl, kl, v->q_table, kl, rk, v->q_log, kl, rk, v->q_shadow, kl, rk,
               v->q_shadow, cols, overriding(v), cols, v->q_table, kl, rk);
    buf_printf(&b,
               "CREATE TRIGGER partmig_capture AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION "
               "%s();\n",
               v->q_table, v->q_capture);
    buf_printf(&b,
               "CREATE TRIGGER partmig_no_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s();\n",
               v->q_table, v->q_guard);
    revoke_public(&b, v->q_capture, "");
    revoke_public(&b, v->q_guard, "");
    revoke_public(&b, v->q_resync, "integer, boolean");
    bool ok = script(c, &b, err) && set_state(v, "mirroring", err);
    buf_free(&b);
    return ok;
}

/* Key range seen now (the capture trigger is in place) and the jobs. */
static bool plan_jobs(Conv *v, Err *err)
{
    Arena *a = v->a;
    CopyPlan pl = {0};
    pl.src = v->q_table;
    pl.key = v->f.key;
    pl.key_types = v->f.key_types;
    pl.nkey = v->f.nkey;
    pl.est_rows = v->f.est_rows;
    int want = v->o->jobs > 0 ? v->o->jobs : (v->p->existing.jobs > 0 ? v->p->existing.jobs : 1);
    CopyJob *jobs = NULL;
    int njobs = 0;
    bool ok = false;
    Buf lo = {0}, hi = {0};
    if (!copier_split(v->c, &pl, want, a, &jobs, &njobs, err))
        return false;
    if (!pg_run(v->c, "BEGIN", err))
        goto done;
    for (int j = 0; j < njobs; j++) {
        buf_reset(&lo);
        buf_reset(&hi);
        /* arrays built as text[] literals by the server from the parts */
        char job_s[16];
        snprintf(job_s, sizeof job_s, "%d", j);
        /* the conversion, the job, and both key tuples */
        const char **params = arena_alloc(v->a, sizeof *params * (size_t)(2 + 2 * v->f.nkey));
        int np = 0;
        params[np++] = v->row.id;
        params[np++] = job_s;
        Buf q = {0};
        buf_append(&q, "INSERT INTO partmig.conversion_jobs (conversion, job, key_lo, key_hi) VALUES ($1::bigint, "
                       "$2::int, ");
        if (jobs[j].lo) {
            buf_append(&q, "ARRAY[");
            for (int i = 0; i < v->f.nkey; i++) {
                buf_printf(&q, "%s$%d::text", i ? ", " : "", np + 1);
                params[np++] = jobs[j].lo[i];
            }
            buf_append(&q, "], ");
        } else
            buf_append(&q, "NULL, ");
        buf_append(&q, "ARRAY[");
        for (int i = 0; i < v->f.nkey; i++) {
            buf_printf(&q, "%s$%d::text", i ? ", " : "", np + 1);
            params[np++] = jobs[j].hi[i];
        }
        buf_append(&q, "])");
        bool qok = pg_exec(v->c, buf_str(&q), np, params, NULL, err);
        buf_free(&q);
        if (!qok)
            goto done;
    }
    if (!set_state(v, "backfilling", err) || !pg_run(v->c, "COMMIT", err))
        goto done;
    ok = true;
done:
    if (!ok)
        rollback_quietly(v->c);
    buf_free(&lo);
    buf_free(&hi);
    return ok;
}

static bool load_jobs(Conv *v, CopyJob **jobs, int *njobs, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {v->row.id};
    if (!pg_exec(v->c,
                 "SELECT job, key_lo::text, key_hi::text FROM partmig.conversion_jobs WHERE conversion = $1::bigint"
                 " ORDER BY job",
                 1, params, &r, err))
        return false;
    *njobs = pg_nrows(r);
    *jobs = arena_alloc(v->a, sizeof **jobs * (size_t)(*njobs + 1));
    bool ok = true;
    for (int j = 0; j < *njobs && ok; j++) {
        int n = 0;
        (*jobs)[j].job = (int)pg_get_int(r, j, 0);
        (*jobs)[j].lo = NULL;
        if (!pg_isnull(r, j, 1))
            ok = sql_parse_text_array(pg_get(r, j, 1), v->a, &(*jobs)[j].lo, &n) && n == v->f.nkey;
        ok = ok && sql_parse_text_array(pg_get(r, j, 2), v->a, &(*jobs)[j].hi, &n) && n == v->f.nkey;
    }
    pg_result_free(r);
    return ok ? true : err_set(err, PM_EDB, "partmig.conversion_jobs holds a bad key range for \"%s\"", v->qname);
}

static bool cover_changed_rows(Conv *v, bool all, int *made, Err *err);

static bool backfill(Conv *v, Err *err)
{
    CopyPlan pl = {0};
    pl.db_url = v->o->db_url;
    pl.conversion = v->row.id;
    pl.src = v->q_table;
    pl.dst = v->q_shadow;
    pl.cols = sql_column_list(v->a, v->f.cols, v->f.ncols, "");
    pl.overriding = overriding(v);
    pl.key = v->f.key;
    pl.key_types = v->f.key_types;
    pl.nkey = v->f.nkey;
    pl.batch_size =
        v->o->batch_size > 0 ? v->o->batch_size : (v->p->existing.batch_size > 0 ? v->p->existing.batch_size : 50000);
    pl.sleep_ms = v->o->sleep_ms;
    pl.est_rows = v->f.est_rows;
    pl.label = v->qname;
    if (!load_jobs(v, &pl.jobs, &pl.njobs, err))
        return false;
    if (copier_run(&pl, err))
        return true;
    /* a row written between the range scan and its batch, outside every
     * partition: add its partition and go on (the copier resumes after the
     * batches it recorded) */
    if (!strstr(err->msg, "no partition of relation"))
        return false;
    int made = 0;
    Err first = *err;
    err_clear(err);
    if (!cover_changed_rows(v, true, &made, err))
        return false;
    if (made == 0) {
        *err = first;
        return err_hint(err,
                        "a row of %s fits no partition of the new table; move it into the policy's partitions "
                        "(or set default_partition = true), then run apply again",
                        v->q_table);
    }
    return copier_run(&pl, err);
}

/* The shadow's primary key, built once the backfill is done: one sorted
 * build per partition costs far less than maintaining the index row by row
 * while copying (measured: 1M rows, 25 partitions, 0.77 s copy + 0.38 s
 * build against 1.63 s copying into the indexed table).  Safe because
 * nothing but the copier writes to the shadow before this point: its
 * batches cover disjoint key ranges and each commits with its ledger row,
 * so no key is copied twice, and the build checks that.  The re-copy of
 * changed keys (which deletes and inserts by key) runs after it, with the
 * index.  It locks only the shadow: the old table's writers go on.  A
 * shadow that already has it (made by an earlier partmig) is left alone. */
static bool build_primary_key(Conv *v, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {v->q_shadow};
    if (!pg_exec(v->c, "SELECT 1 FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'", 1, params, &r,
                 err))
        return false;
    bool present = pg_nrows(r) > 0;
    pg_result_free(r);
    if (present)
        return true;
    double t0 = progress_now();
    const char *sql = arena_printf(v->a, "ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (%s)", v->q_shadow,
                                   sql_ident(v->a, name63(v->a, v->row.shadow, "_pkey")),
                                   sql_column_list(v->a, v->f.new_pk, v->f.nnew_pk, ""));
    if (!pg_run(v->c, sql, err))
        return false;
    fprintf(stderr, "partmig: %s: built the primary key of %s in %.0f ms\n", v->qname, v->q_shadow,
            (progress_now() - t0) * 1000.0);
    return true;
}

/* The old table's secondary indexes on the shadow.  Nothing but partmig
 * writes to the shadow, so a plain CREATE INDEX blocks no application. */
static bool build_indexes(Conv *v, Err *err)
{
    if (!build_primary_key(v, err))
        return false;
    Buf b = {0};
    for (int i = 0; i < v->f.nix; i++) {
        if (v->f.ix_policy[i])
            continue; /* the policy's build_index step makes it, under its own name */
        const char *tmp = arena_printf(v->a, "pm%s_ix%d", v->row.id, i);
        buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS %s ON %s %s;\n", v->f.ix_unique[i] ? "UNIQUE " : "",
                   sql_ident(v->a, tmp), v->q_shadow, v->f.ix_using[i]);
    }
    buf_printf(&b, "ANALYZE %s;\n", v->q_shadow);
    bool ok = script(v->c, &b, err);
    buf_free(&b);
    return ok;
}

/* ---- rows outside the shadow's partitions ---- */

/* The wall-clock text (time keys, in the policy's zone) or integer text of
 * the partition column, as SQL over alias o; $1 is the zone. */
static const char *part_value_sql(Conv *v)
{
    const char *col = arena_printf(v->a, "o.%s", sql_ident(v->a, v->p->column));
    /* the zone is typed even where unused: every query gets it as $1 */
    if (v->p->by != PART_RANGE || v->p->interval.unit == UNIT_INTEGER)
        return arena_printf(v->a, "(%s::text || left($1::text, 0))", col);
    if (v->f.part_type && !strcmp(v->f.part_type, "timestamp with time zone"))
        return arena_printf(v->a, "to_char(%s AT TIME ZONE $1, 'YYYY-MM-DD HH24:00:00')", col);
    return arena_printf(v->a, "to_char(%s::timestamp, 'YYYY-MM-DD HH24:00:00')", col);
}

/* A changed row (or, with ALL, any row) of the old table that no partition
 * of the shadow takes: its key and partition value ("id=5, created_at=...")
 * in *WHICH, NULL when none.  Range policies: outside [lower, upper) and
 * outside every partition made since; list policies: a value no list has. */
typedef struct Uncovered {
    const char **values; /* distinct partition values (range), owned by the arena */
    int n;
    const char *example; /* "key=..., column=value" of the first such row */
} Uncovered;

static bool find_uncovered(Conv *v, bool all, Uncovered *u, Err *err)
{
    Arena *a = v->a;
    const TableFacts *f = &v->f;
    memset(u, 0, sizeof *u);
    const char *okl = sql_column_list(a, f->key, f->nkey, "o.");
    const char *lkl = sql_column_list(a, f->key, f->nkey, "l.");
    const char *val = part_value_sql(v);
    Buf q = {0};
    const char *params[3] = {v->p->timezone ? v->p->timezone : "UTC", NULL, NULL};
    int np = 1;
    if (all)
        buf_printf(&q, "SELECT DISTINCT %s FROM %s o WHERE true", val, v->q_table);
    else /* the change log drives: a few keys, looked up by the old table's key (this runs in the swap) */
        buf_printf(&q, "SELECT DISTINCT %s FROM %s l JOIN %s o ON (%s) = (%s) WHERE true", val, v->q_log, v->q_table,
                   lkl, okl);
    if (v->p->by == PART_RANGE && !(v->row.lower && v->row.upper)) {
        /* no recorded range: every row is a candidate (to_regclass sorts them out) */
    } else if (v->p->by == PART_RANGE) {
        const char *col = arena_printf(a, "o.%s", sql_ident(a, v->p->column));
        if (v->p->interval.unit == UNIT_INTEGER)
            buf_printf(&q, " AND NOT (%s >= $2::bigint AND %s < $3::bigint)", col, col);
        else if (f->part_type && !strcmp(f->part_type, "timestamp with time zone"))
            buf_printf(&q, " AND NOT (%s AT TIME ZONE $1 >= $2::timestamp AND %s AT TIME ZONE $1 < $3::timestamp)", col,
                       col);
        else
            buf_printf(&q, " AND NOT (%s::timestamp >= $2::timestamp AND %s::timestamp < $3::timestamp)", col, col);
        params[1] = v->row.lower;
        params[2] = v->row.upper;
        np = 3;
    } else if (v->p->by == PART_LIST) {
        /* list values hold no control characters (validate.c): one per line */
        Buf vals = {0};
        for (int i = 0; i < v->p->nlists; i++)
            for (int j = 0; j < v->p->lists[i].values.n; j++) {
                if (vals.len)
                    buf_putc(&vals, '\n');
                buf_append(&vals, v->p->lists[i].values.items[j]);
            }
        buf_printf(&q, " AND NOT (o.%s::text = ANY (string_to_array($2::text, E'\\n')))", sql_ident(a, v->p->column));
        params[1] = arena_strdup(a, buf_str(&vals));
        np = 2;
        buf_free(&vals);
    } else {
        buf_free(&q);
        return true; /* hash: every value has a partition */
    }
    buf_append(&q, " ORDER BY 1 LIMIT 10000");
    PgResult *r = NULL;
    bool ok = pg_exec(v->c, buf_str(&q), np, params, &r, err);
    buf_free(&q);
    if (!ok)
        return false;
    u->n = pg_nrows(r);
    u->values = arena_alloc(a, sizeof *u->values * (size_t)(u->n + 1));
    for (int i = 0; i < u->n; i++)
        u->values[i] = arena_strdup(a, pg_get(r, i, 0));
    pg_result_free(r);
    if (u->n == 0)
        return true;
    /* the first such row, for the message (a rare path: a plain EXISTS does) */
    const char *changed =
        all ? "true" : arena_printf(a, "EXISTS (SELECT 1 FROM %s l WHERE (%s) = (%s))", v->q_log, lkl, okl);
    Buf e = {0};
    buf_printf(&e, "SELECT %s FROM %s o WHERE %s AND %s = $2 LIMIT 1", sql_column_list(a, f->key, f->nkey, "o."),
               v->q_table, changed, val);
    const char *ep[] = {params[0], u->values[0]};
    ok = pg_exec(v->c, buf_str(&e), 2, ep, &r, err);
    buf_reset(&e);
    if (!ok) {
        buf_free(&e);
        return false;
    }
    for (int i = 0; pg_nrows(r) > 0 && i < f->nkey; i++)
        buf_printf(&e, "%s=%s, ", f->key[i], pg_isnull(r, 0, i) ? "NULL" : pg_get(r, 0, i));
    buf_printf(&e, "%s=%s", v->p->column, u->values[0]);
    u->example = arena_strdup(a, buf_str(&e));
    buf_free(&e);
    pg_result_free(r);
    return true;
}

/* Make the shadow take every changed row (ALL: every row of the old
 * table): range policies without a DEFAULT partition get the missing
 * partitions, named and bounded like the others; with a DEFAULT partition
 * such rows go there (reported before the swap); a list value no list has
 * fails with the key and the fix.  *MADE counts new partitions.  Runs in
 * the caller's transaction, if any. */
static bool cover_changed_rows(Conv *v, bool all, int *made, Err *err)
{
    *made = 0;
    const Policy *p = v->p;
    if (p->by == PART_HASH || p->default_partition)
        return true;
    Uncovered u;
    if (!find_uncovered(v, all, &u, err))
        return false;
    if (u.n == 0)
        return true;
    if (p->by == PART_LIST) {
        err_set(err, PM_EDB,
                "\"%s\": %d row(s) written during the conversion fit no partition of %s (e.g. %s): the value is in "
                "none of the policy's lists",
                v->qname, u.n, v->q_shadow, u.example);
        return err_hint(err, "add the value to the policy's lists or set default_partition = true, compile, and run "
                             "apply again (the conversion resumes where it is)");
    }
    Buf b = {0};
    const char *last = "";
    for (int i = 0; i < u.n; i++) {
        const char *from = u.values[i], *to;
        if (p->interval.unit == UNIT_INTEGER) {
            int64_t x = strtoll(from, NULL, 10), anchor = p->start ? strtoll(p->start, NULL, 10) : 0;
            to = arena_printf(v->a, "%lld",
                              (long long)(interval_floor_int(p->interval.count, anchor, x) + p->interval.count));
        } else {
            WallTime anchor = {1970, 1, 1, 0}, t;
            if (p->start)
                walltime_parse(p->start, &anchor);
            if (!walltime_parse(from, &t)) {
                buf_free(&b);
                return err_set(err, PM_EDB, "\"%s\": cannot read partition value \"%s\"", v->qname, from);
            }
            Buf tb = {0};
            walltime_format(&tb, interval_add(p->interval, interval_floor(p->interval, anchor, t), 1));
            to = arena_strdup(v->a, buf_str(&tb));
            buf_free(&tb);
        }
        PartitionSpec *specs = NULL;
        int n = 0;
        if (!partitions_range(p, from, to, v->a, &specs, &n, err)) {
            buf_free(&b);
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            err_set(err, PM_EDB, "\"%s\": no partition for a row written during the conversion (%s): %s", v->qname,
                    u.example, msg);
            return err_hint(err, "move that row's %s into the policy's range, then run apply again", p->column);
        }
        for (int j = 0; j < n; j++) {
            if (!strcmp(specs[j].name, last))
                continue; /* values of one partition come in a row (sorted) */
            last = specs[j].name;
            PgResult *r = NULL;
            const char *params[] = {sql_qualified(v->a, p->schema, specs[j].name)};
            if (!pg_exec(v->c, "SELECT to_regclass($1) IS NULL", 1, params, &r, err)) {
                buf_free(&b);
                return false;
            }
            bool missing = pg_get(r, 0, 0)[0] == 't';
            pg_result_free(r);
            if (!missing)
                continue; /* made by an earlier round */
            partition_create_sql(&b, p, v->row.shadow, &specs[j]);
            (*made)++;
        }
    }
    if (*made == 0) {
        buf_free(&b);
        return true;
    }
    bool ok = script(v->c, &b, err);
    buf_reset(&b);
    ok = ok && owner_copy(v, v->q_shadow, v->f.owner, &b, err) && reloptions_copy(v, v->q_shadow, &b, err) &&
         script(v->c, &b, err);
    buf_free(&b);
    if (!ok) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        err_set(err, PM_EDB, "\"%s\": cannot add a partition for a row written during the conversion (%s): %s",
                v->qname, u.example, msg);
        return err_hint(err, "fix the cause above, then run apply again (the conversion resumes where it is)");
    }
    fprintf(stderr,
            "partmig: %s: added partition(s) to %s for rows written during the conversion outside its range "
            "(e.g. %s)\n",
            v->qname, v->q_shadow, u.example);
    return true;
}

/* Rows in the shadow's DEFAULT partition, reported (never hidden). */
static bool report_default_rows(Conv *v, Err *err)
{
    if (!v->p->default_partition)
        return true;
    PgResult *r = NULL;
    const char *params[] = {v->q_shadow};
    if (!pg_exec(v->c,
                 "SELECT t.relid::regclass::text FROM pg_partition_tree($1::regclass) t JOIN pg_class c ON c.oid ="
                 " t.relid WHERE t.isleaf AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'",
                 1, params, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        PgResult *rc = NULL;
        const char *col = sql_ident(v->a, v->p->column);
        if (!pg_exec(
                v->c,
                arena_printf(v->a, "SELECT count(*), min(%s)::text, max(%s)::text FROM %s", col, col, pg_get(r, i, 0)),
                0, NULL, &rc, err)) {
            pg_result_free(r);
            return false;
        }
        if (pg_get_int(rc, 0, 0) > 0)
            fprintf(stderr,
                    "partmig: %s: warning: %lld rows are in the DEFAULT partition %s (%s %s .. %s); `partmig maintain "
                    "--drain-default` moves them once partitions cover them\n",
                    v->qname, (long long)pg_get_int(rc, 0, 0), pg_get(r, i, 0), v->p->column, pg_get(rc, 0, 1),
                    pg_get(rc, 0, 2));
        pg_result_free(rc);
    }
    pg_result_free(r);
    return true;
}

/* Re-copy changed keys until fewer than RESYNC_PENDING wait. */
static bool resync_catch_up(Conv *v, Err *err)
{
    double t0 = progress_now();
    const char *sql = arena_printf(v->a, "SELECT %s(%d, false)", v->q_resync, RESYNC_BATCH);
    const char *count = arena_printf(v->a, "SELECT count(*) FROM %s", v->q_log);
    int64_t total = 0;
    for (;;) {
        PgResult *r = NULL;
        if (!pg_exec(v->c, sql, 0, NULL, &r, err)) {
            /* 23514: a changed row fits no partition of the shadow */
            if (strcmp(pg_last_sqlstate(v->c), "23514") != 0)
                return false;
            int made = 0;
            if (!cover_changed_rows(v, false, &made, err))
                return false;
            if (made == 0 || !pg_exec(v->c, sql, 0, NULL, &r, err)) {
                if (made == 0) {
                    char msg[sizeof err->msg];
                    snprintf(msg, sizeof msg, "%s", err->msg);
                    err_set(err, PM_EDB, "\"%s\": re-copying rows changed during the conversion failed: %s", v->qname,
                            msg);
                }
                return err_hint(err,
                                "find the row named above in %s, move it into the policy's partitions (or set "
                                "default_partition = true), then run apply again",
                                v->q_table);
            }
        }
        int64_t done = pg_get_int(r, 0, 0);
        pg_result_free(r);
        if (!pg_exec(v->c, count, 0, NULL, &r, err))
            return false;
        int64_t left = pg_get_int(r, 0, 0);
        pg_result_free(r);
        total += done;
        if (left < RESYNC_PENDING)
            break;
        if (progress_now() - t0 > RESYNC_MAX_SECS) {
            err_set(err, PM_EDB, "\"%s\": writes arrive faster than partmig re-copies them (%lld changed rows wait)",
                    v->qname, (long long)left);
            return err_hint(err, "run apply again at a quieter time; the conversion resumes where it is");
        }
    }
    if (total > 0)
        fprintf(stderr, "partmig: %s: re-copied %lld rows changed during the copy\n", v->qname, (long long)total);
    return true;
}

static bool record_names(Conv *v, const char *original, const char *parked, const char *staged, Err *err)
{
    const char *params[] = {v->row.id, original, parked, staged};
    return pg_exec(v->c,
                   "INSERT INTO partmig.conversion_names (conversion, original, parked, staged)"
                   " VALUES ($1::bigint, $2, $3, $4) ON CONFLICT DO NOTHING",
                   4, params, NULL, err);
}

static bool swap_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Arena *a = v->a;
    const char *schema = v->p->schema;
    Buf b = {0}, views = {0};
    PgResult *r = NULL;
    bool ok = false;
    double t0 = progress_now();
    /* the shadow first: only partmig and autovacuum use it, so waiting for
     * it (autovacuum works through the freshly filled partitions) blocks no
     * application; the old table's lock is taken last, held the shortest */
    buf_printf(&b, "LOCK TABLE %s, %s IN ACCESS EXCLUSIVE MODE", v->q_shadow, v->q_table);
    if (!pg_run(c, buf_str(&b), err))
        goto done;
    buf_reset(&b);
    /* the last changed keys; the table is locked, so this is all of them */
    int made = 0;
    if (!cover_changed_rows(v, false, &made, err) ||
        !pg_exec(c, arena_printf(a, "SELECT %s(NULL, true)", v->q_resync), 0, NULL, NULL, err))
        goto done;
    /* a statement of its own: it must see what the function deleted */
    if (!pg_exec(c, arena_printf(a, "SELECT count(*) FROM %s", v->q_log), 0, NULL, &r, err))
        goto done;
    if (pg_get_int(r, 0, 0) != 0) {
        err_set(err, PM_EDB, "\"%s\": changed rows remain after the final re-copy", v->qname);
        goto done;
    }
    pg_result_free(r);
    r = NULL;
    if (!views_capture(v, v->row.old_oid, &views, err))
        goto done;
    const char *shadow_oid = NULL;
    const char *oid_param[] = {v->q_shadow};
    if (!pg_query_text(c, "SELECT pg_catalog.to_regclass($1)::pg_catalog.oid::text", 1, oid_param, a, &shadow_oid, err))
        goto done;
    buf_printf(&b, "DROP TRIGGER partmig_capture ON %s;\nDROP TRIGGER partmig_no_truncate ON %s;\n", v->q_table,
               v->q_table);
    buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_table, sql_ident(a, v->row.kept));
    buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_shadow, sql_ident(a, v->p->table));
    /* indexes: the old ones step aside, the new ones take their names */
    if (v->f.pkey_index) {
        const char *parked = arena_printf(a, "pm%s_old_pkey", v->row.id);
        const char *staged = name63(a, v->row.shadow, "_pkey");
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", sql_qualified(a, schema, v->f.pkey_index),
                   sql_ident(a, parked));
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", sql_qualified(a, schema, staged),
                   sql_ident(a, v->f.pkey_index));
        if (!record_names(v, v->f.pkey_index, parked, staged, err))
            goto done;
    }
    for (int i = 0; i < v->f.nix; i++) {
        if (v->f.ix_policy[i])
            continue;
        const char *parked = arena_printf(a, "pm%s_old_ix%d", v->row.id, i);
        const char *staged = arena_printf(a, "pm%s_ix%d", v->row.id, i);
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", sql_qualified(a, schema, v->f.ix_names[i]),
                   sql_ident(a, parked));
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", sql_qualified(a, schema, staged),
                   sql_ident(a, v->f.ix_names[i]));
        if (!record_names(v, v->f.ix_names[i], parked, staged, err))
            goto done;
    }
    /* identity columns: the new sequence continues after the old one (the
     * old table is locked, so no insert takes a value meanwhile) and takes
     * its name; the old one steps aside like the indexes */
    for (int i = 0; i < v->f.nident; i++) {
        IdentSeq old_seq, new_seq;
        if (!identity_continue(v, v->q_table, v->q_shadow, v->f.ident_cols[i], &old_seq, &new_seq, err))
            goto done;
        if (strcmp(old_seq.schema, schema) || strcmp(new_seq.schema, schema))
            continue; /* names_back renames within the table's schema only */
        const char *parked = arena_printf(a, "pm%s_old_seq%d", v->row.id, i);
        buf_printf(&b, "ALTER SEQUENCE %s RENAME TO %s;\n", old_seq.qname, sql_ident(a, parked));
        buf_printf(&b, "ALTER SEQUENCE %s RENAME TO %s;\n", new_seq.qname, sql_ident(a, old_seq.name));
        if (!record_names(v, old_seq.name, parked, new_seq.name, err))
            goto done;
    }
    if (!sequences_move(v, v->row.old_oid, v->q_table, &b, err) ||
        !grants_copy(v, v->row.old_oid, v->q_table, &b, err) ||
        !row_security_copy(v, v->row.old_oid, v->q_table, &b, err))
        goto done;
    buf_append(&b, buf_str(&views));
    /* reverse mirror: the old table stays the rollback point, up to date */
    const TableFacts *f = &v->f;
    const char *kl = sql_column_list(a, f->key, f->nkey, "");
    const char *oldk = sql_column_list(a, f->key, f->nkey, "OLD.");
    const char *cols = sql_column_list(a, f->cols, f->ncols, "");
    const char *newc = sql_column_list(a, f->cols, f->ncols, "NEW.");
    buf_printf(&b,
               "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER"
               " SET search_path = pg_catalog, pg_temp AS $pm$\nBEGIN\n%s"
               "  IF TG_OP <> 'INSERT' THEN DELETE FROM %s WHERE (%s) = (%s); END IF;\n"
               "  IF TG_OP <> 'DELETE' THEN INSERT INTO %s (%s)%s VALUES (%s); END IF;\n"
               "  RETURN NULL;\nEND\n$pm$;\n",
               v->q_reverse, trigger_guard(a, shadow_oid), v->q_kept, kl, oldk, v->q_kept, cols, overriding(v), newc);
    revoke_public(&b, v->q_reverse, "");
    buf_printf(&b,
               "CREATE TRIGGER partmig_reverse AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION "
               "%s();\n",
               v->q_table, v->q_reverse);
    buf_printf(&b,
               "CREATE TRIGGER partmig_no_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s();\n",
               v->q_table, v->q_guard);
    if (!script(c, &b, err))
        goto done;
    char ms[32];
    snprintf(ms, sizeof ms, "%.3f", (progress_now() - t0) * 1000.0);
    const char *params[] = {v->row.id, ms};
    if (!pg_exec(c, "UPDATE partmig.conversions SET swap_ms = $2::float8, swapped_at = now() WHERE id = $1::bigint", 2,
                 params, NULL, err) ||
        !set_state(v, "swapped", err))
        goto done;
    ok = true;
done:
    pg_result_free(r);
    buf_free(&b);
    buf_free(&views);
    return ok;
}

static bool drop_capture_objects(Conv *v, Err *err)
{
    Buf b = {0};
    buf_printf(
        &b, "DROP FUNCTION IF EXISTS %s(integer, boolean);\nDROP FUNCTION IF EXISTS %s();\nDROP TABLE IF EXISTS %s;\n",
        v->q_resync, v->q_capture, v->q_log);
    bool ok = script(v->c, &b, err);
    buf_free(&b);
    return ok;
}

static bool run_copy(Conv *v, Err *err)
{
    if (!names_safe(v, err))
        return false;
    if (state_is(v, "preflight") && !create_shadow(v, err))
        return false;
    if (state_is(v, "shadow_created") && !conv_locked(v, "installing the change capture trigger", capture_body, err))
        return false;
    if (state_is(v, "mirroring") && !plan_jobs(v, err))
        return false;
    if (state_is(v, "backfilling")) {
        int64_t rows = 0;
        if (!backfill(v, err) || !build_indexes(v, err) || !resync_catch_up(v, err) ||
            !verify_counts(v, v->q_table, v->q_shadow, v->q_log, &rows, err))
            return false;
        const char *params[] = {v->row.id, arena_printf(v->a, "%lld", (long long)rows)};
        if (!pg_exec(v->c, "UPDATE partmig.conversions SET rows_verified = $2::bigint WHERE id = $1::bigint", 2, params,
                     NULL, err) ||
            !set_state(v, "verified", err))
            return false;
        fprintf(stderr, "partmig: %s: verified %lld rows, partition by partition, in one snapshot\n", v->qname,
                (long long)rows);
    }
    if ((state_is(v, "verified") || state_is(v, "backfilling")) && !report_default_rows(v, err))
        return false;
    if (state_is(v, "verified")) {
        if (!resync_catch_up(v, err) || !conv_locked(v, "swapping the tables", swap_body, err))
            return false;
        fprintf(stderr, "partmig: %s: swapped; the old table is kept as %s until `partmig finalize %s`\n", v->qname,
                v->q_kept, v->qname);
    }
    if (state_is(v, "swapped") && !drop_capture_objects(v, err))
        return false;
    return true;
}

/* ---- attach ---- */

static const char *range_check_name(Conv *v)
{
    return name63(v->a, v->p->table, "_partmig_range");
}

static const char *attach_index_name(Conv *v)
{
    return name63(v->a, v->p->table, "_partmig_key");
}

/* Bound literal for wall text (time) or integer text. */
static const char *bound_literal(Conv *v, const char *text)
{
    if (v->p->interval.unit == UNIT_INTEGER)
        return text;
    WallTime t;
    walltime_parse(text, &t);
    Buf b = {0};
    partition_bound_literal(&b, v->p, t);
    const char *s = arena_strdup(v->a, buf_str(&b));
    buf_free(&b);
    return s;
}

static bool attach_check_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Arena *a = v->a;
    PgResult *r = NULL;
    const char *params[] = {v->row.old_oid, range_check_name(v)};
    if (!pg_exec(c, "SELECT 1 FROM pg_constraint WHERE conrelid = $1::oid AND conname = $2", 2, params, &r, err))
        return false;
    bool exists = pg_nrows(r) > 0;
    pg_result_free(r);
    if (exists)
        return true;
    const char *col = sql_ident(a, v->p->column);
    Buf b = {0};
    buf_printf(&b, "ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s < %s", v->q_table, sql_ident(a, range_check_name(v)),
               col, bound_literal(v, v->row.upper));
    if (v->row.lower)
        buf_printf(&b, " AND %s >= %s", col, bound_literal(v, v->row.lower));
    buf_append(&b, ") NOT VALID");
    bool ok = pg_run(c, buf_str(&b), err);
    buf_free(&b);
    return ok;
}

static bool attach_prepare(Conv *v, Err *err)
{
    Arena *a = v->a;
    const Policy *p = v->p;
    /* pre-flight refuses these; a conversion recorded by an older partmig
     * must not reach the range arithmetic below either */
    if (p->by != PART_RANGE || v->f.nnew_pk == 0) {
        err_set(err, PM_EINPUT, "cannot attach \"%s\": %s", v->qname,
                p->by != PART_RANGE ? "existing.method = \"attach\" needs a range policy"
                                    : "the table has no primary key and the policy names none");
        return err_hint(err, "partmig rollback undoes the recorded conversion; then fix the policy (method \"copy\" "
                             "or a primary_key) and apply again");
    }
    if (!v->row.upper) {
        /* the old table keeps everything below the interval after max(data, now) */
        const char *hi_text;
        if (p->interval.unit == UNIT_INTEGER) {
            int64_t step = p->interval.count, anchor = p->start ? strtoll(p->start, NULL, 10) : 0;
            int64_t mx = v->f.data_max ? strtoll(v->f.data_max, NULL, 10) : anchor;
            hi_text = arena_printf(a, "%lld", (long long)(interval_floor_int(step, anchor, mx) + step));
        } else {
            WallTime anchor = {1970, 1, 1, 0}, now, mx;
            if (p->start)
                walltime_parse(p->start, &anchor);
            walltime_parse(v->f.now_wall, &now);
            if (v->f.data_max && walltime_parse(v->f.data_max, &mx) && walltime_cmp(mx, now) > 0)
                now = mx;
            Buf b = {0};
            walltime_format(&b, interval_add(p->interval, interval_floor(p->interval, anchor, now), 1));
            hi_text = arena_strdup(a, buf_str(&b));
            buf_free(&b);
        }
        const char *lo_text = p->start;
        const char *params[] = {v->row.id, lo_text, hi_text};
        if (!pg_exec(v->c, "UPDATE partmig.conversions SET lower_bound = $2, upper_bound = $3 WHERE id = $1::bigint", 3,
                     params, NULL, err))
            return false;
        v->row.upper = hi_text;
        v->row.lower = lo_text;
    }
    if (!conv_locked(v, "adding the range constraint (NOT VALID)", attach_check_body, err))
        return false;
    /* VALIDATE takes SHARE UPDATE EXCLUSIVE: writers go on */
    Buf b = {0};
    buf_printf(&b, "ALTER TABLE %s VALIDATE CONSTRAINT %s", v->q_table, sql_ident(a, range_check_name(v)));
    bool ok = pg_run(v->c, buf_str(&b), err);
    buf_free(&b);
    if (!ok)
        return false;
    if (!v->f.pk_has_partkey) {
        PgResult *r = NULL;
        const char *params[] = {v->p->schema, attach_index_name(v)};
        if (!pg_exec(v->c,
                     "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                     " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                     2, params, &r, err))
            return false;
        int state = pg_nrows(r) == 0 ? 0 : pg_get(r, 0, 0)[0] == 't' ? 2 : 1;
        pg_result_free(r);
        const char *qix = sql_qualified(a, v->p->schema, attach_index_name(v));
        if (state == 1 && !pg_run(v->c, arena_printf(a, "DROP INDEX CONCURRENTLY IF EXISTS %s", qix), err))
            return false;
        if (state != 2 && !pg_run(v->c,
                                  arena_printf(a, "CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s)",
                                               sql_ident(a, attach_index_name(v)), v->q_table,
                                               sql_column_list(a, v->f.new_pk, v->f.nnew_pk, "")),
                                  err))
            return false;
    }
    return set_state(v, "verified", err);
}

static bool attach_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Arena *a = v->a;
    const Policy *p = v->p;
    const char *schema = p->schema;
    Buf b = {0}, views = {0};
    bool ok = false;
    double t0 = progress_now();
    PartitionSpec *specs = NULL, *fixed = NULL;
    int n = 0, nfixed = 0;
    const char *to_text;
    if (p->interval.unit == UNIT_INTEGER) {
        to_text = arena_printf(
            a, "%lld",
            (long long)(strtoll(v->row.upper, NULL, 10) + p->interval.count * (p->premake > 0 ? p->premake : 1)));
    } else {
        WallTime up, now;
        walltime_parse(v->row.upper, &up);
        walltime_parse(v->f.now_wall, &now);
        WallTime hi = interval_add(p->interval, now, p->premake > 0 ? p->premake + 1 : 1);
        if (walltime_cmp(hi, up) <= 0)
            hi = interval_add(p->interval, up, 1);
        Buf t = {0};
        walltime_format(&t, hi);
        to_text = arena_strdup(a, buf_str(&t));
        buf_free(&t);
    }
    if (!partitions_range(p, v->row.upper, to_text, a, &specs, &n, err))
        goto done;
    partitions_fixed(p, a, &fixed, &nfixed);

    buf_printf(&b, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", v->q_table);
    if (!pg_run(c, buf_str(&b), err) || !views_capture(v, v->row.old_oid, &views, err))
        goto done;
    buf_reset(&b);
    const char *kept = sql_ident(a, v->row.kept);
    buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_table, kept);
    if (!v->f.pk_has_partkey)
        buf_printf(&b, "ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s;\n", v->q_kept,
                   sql_ident(a, attach_index_name(v)), sql_ident(a, attach_index_name(v)));
    buf_printf(&b,
               "CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING "
               "COMMENTS INCLUDING GENERATED INCLUDING COMPRESSION INCLUDING IDENTITY) PARTITION BY RANGE (%s);\n",
               v->q_table, v->q_kept, sql_ident(a, p->column));
    buf_printf(&b, "ALTER TABLE %s DROP CONSTRAINT %s;\n", v->q_table, sql_ident(a, range_check_name(v)));
    /* the old indexes step aside; the parent's take their names and adopt them */
    const char *pk_name = v->f.pkey_index ? v->f.pkey_index : name63(a, p->table, "_pkey");
    if (v->f.pkey_index) {
        const char *parked = name63(a, v->row.kept, "_pkey");
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", sql_qualified(a, schema, v->f.pkey_index),
                   sql_ident(a, parked));
        if (!record_names(v, v->f.pkey_index, parked, NULL, err))
            goto done;
    }
    buf_printf(&b, "ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (%s);\n", v->q_table, sql_ident(a, pk_name),
               sql_column_list(a, v->f.new_pk, v->f.nnew_pk, ""));
    for (int i = 0; i < v->f.nix; i++) {
        const char *parked = name63(a, v->f.ix_names[i], arena_printf(a, "_p%s", v->row.id));
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", sql_qualified(a, schema, v->f.ix_names[i]),
                   sql_ident(a, parked));
        buf_printf(&b, "CREATE %sINDEX %s ON ONLY %s %s;\n", v->f.ix_unique[i] ? "UNIQUE " : "",
                   sql_ident(a, v->f.ix_names[i]), v->q_table, v->f.ix_using[i]);
        if (!record_names(v, v->f.ix_names[i], parked, NULL, err))
            goto done;
    }
    buf_printf(&b, "ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s);\n", v->q_table, v->q_kept,
               v->row.lower ? bound_literal(v, v->row.lower) : "MINVALUE", bound_literal(v, v->row.upper));
    for (int i = 0; i < n; i++)
        partition_create_sql(&b, p, p->table, &specs[i]);
    for (int i = 0; i < nfixed; i++)
        partition_create_sql(&b, p, p->table, &fixed[i]);
    if (!sequences_move(v, v->row.old_oid, v->q_table, &b, err) ||
        !grants_copy(v, v->row.old_oid, v->q_table, &b, err) ||
        !row_security_copy(v, v->row.old_oid, v->q_table, &b, err))
        goto done;
    buf_append(&b, buf_str(&views));
    if (!script(c, &b, err))
        goto done;
    buf_reset(&b);
    /* the new partitions above the old table get its storage parameters */
    if (!reloptions_copy(v, v->q_table, &b, err))
        goto done;
    /* identity columns (PostgreSQL 15 attaches a table with its own identity
     * column; the parent has one too): the parent's sequence continues after
     * the old table's and takes its name */
    for (int i = 0; i < v->f.nident; i++) {
        IdentSeq old_seq, new_seq;
        if (!identity_continue(v, v->q_kept, v->q_table, v->f.ident_cols[i], &old_seq, &new_seq, err))
            goto done;
        if (strcmp(old_seq.schema, schema) || strcmp(new_seq.schema, schema))
            continue;
        const char *parked = arena_printf(a, "pm%s_old_seq%d", v->row.id, i);
        buf_printf(&b, "ALTER SEQUENCE %s RENAME TO %s;\n", old_seq.qname, sql_ident(a, parked));
        buf_printf(&b, "ALTER SEQUENCE %s RENAME TO %s;\n", new_seq.qname, sql_ident(a, old_seq.name));
        if (!record_names(v, old_seq.name, parked, NULL, err))
            goto done;
    }
    if (!owner_copy(v, v->q_table, v->f.owner, &b, err) || !script(c, &b, err))
        goto done;
    char ms[32];
    snprintf(ms, sizeof ms, "%.3f", (progress_now() - t0) * 1000.0);
    const char *params[] = {v->row.id, ms};
    if (!pg_exec(c, "UPDATE partmig.conversions SET swap_ms = $2::float8, swapped_at = now() WHERE id = $1::bigint", 2,
                 params, NULL, err) ||
        !set_state(v, "swapped", err))
        goto done;
    ok = true;
done:
    buf_free(&b);
    buf_free(&views);
    return ok;
}

static bool run_attach(Conv *v, Err *err)
{
    if (state_is(v, "preflight") && !attach_prepare(v, err))
        return false;
    if (state_is(v, "verified")) {
        if (!conv_locked(v, "attaching the table as the first partition", attach_body, err))
            return false;
        fprintf(stderr, "partmig: %s: attached the existing table as partition %s (no rows copied)\n", v->qname,
                v->q_kept);
    }
    return true;
}

/* ---- entry points ---- */

static void conv_init(Conv *v, PgConn *c, const Policy *p, const ConvertOptions *o, Arena *a)
{
    memset(v, 0, sizeof *v);
    v->c = c;
    v->p = p;
    v->o = o;
    v->a = a;
    v->qname = policy_qualified_name(p, a);
    v->q_table = sql_qualified(a, p->schema, p->table);
}

/* Facts of the original table, wherever it is now (by its oid). */
static bool gather_original(Conv *v, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {v->row.old_oid};
    if (!pg_exec(v->c, "SELECT relname FROM pg_class WHERE oid = $1::oid", 1, params, &r, err))
        return false;
    if (pg_nrows(r) == 0) {
        pg_result_free(r);
        return err_set(err, PM_EDB, "the original table of \"%s\" is gone", v->qname);
    }
    Policy q = *v->p;
    q.table = arena_strdup(v->a, pg_get(r, 0, 0));
    pg_result_free(r);
    if (!preflight_gather(v->c, &q, v->a, &v->f, err))
        return false;
    if (v->p->primary_key.n == 0) {
        v->f.new_pk = v->f.key;
        v->f.nnew_pk = v->f.nkey;
    }
    return true;
}

static void print_dry_run(Conv *v)
{
    PartitionSpec *specs = NULL;
    int n = 0;
    const char *from = NULL, *to = NULL;
    Err ignored;
    preflight_layout(v->p, &v->f, v->a, &specs, &n, &from, &to, &ignored);
    if (v->p->existing.method == EXISTING_ATTACH) {
        printf("-- attach: CHECK constraint NOT VALID + VALIDATE on %s, a unique index with the partition key built "
               "CONCURRENTLY where needed, then one short transaction: rename, create the partitioned %s, ATTACH the "
               "old table as its first partition, premake partitions above it\n",
               v->q_table, v->q_table);
        return;
    }
    printf("-- copy: create the partitioned shadow with %d partitions (%s .. %s), capture changes with a trigger on "
           "%s, backfill in keyset batches on (%s) of %d rows, re-copy changed rows, verify per-partition counts in "
           "one snapshot, swap in one short transaction (lock_timeout %dms), keep the old table for rollback\n",
           n, from ? from : "-", to ? to : "-", v->q_table, sql_column_list(v->a, v->f.key, v->f.nkey, ""),
           v->o->batch_size > 0 ? v->o->batch_size : v->p->existing.batch_size, lock_ms(v));
    for (int i = 0; i < n; i++)
        printf("--   partition %s %s\n", specs[i].name, specs[i].bound_sql);
}

bool convert_run(PgConn *c, const Policy *p, const ConvertOptions *o, Err *err)
{
    Arena a = {0};
    Conv v;
    bool ok = false, present = false;
    conv_init(&v, c, p, o, &a);
    if (!ledger_present(c, &present, err))
        goto done;
    if (!present && !o->dry_run) {
        if (!pg_exec_script(c, convert_ledger_ddl(), err))
            goto done;
        present = true;
    }
    if (present && !load_row(&v, err))
        goto done;
    bool active = v.row.found && strcmp(v.row.state, "finalized") && strcmp(v.row.state, "rolled_back");
    if (!active) {
        if (!preflight_gather(c, p, &a, &v.f, err))
            goto done;
        if (v.f.exists && v.f.relkind == 'p') {
            ok = true; /* already partitioned: converted earlier, nothing to do */
            goto done;
        }
        if (!convert_preflight(c, p, o, err))
            goto done;
        if (o->dry_run) {
            print_dry_run(&v);
            ok = true;
            goto done;
        }
        const char *method = p->existing.method == EXISTING_ATTACH ? "attach" : "copy";
        const char *shadow = p->existing.method == EXISTING_ATTACH ? NULL : name63(&a, p->table, "_partmig_new");
        const char *kept = name63(&a, p->table, p->existing.method == EXISTING_ATTACH ? "_legacy" : "_partmig_old");
        char ver[16], step[16];
        snprintf(ver, sizeof ver, "%d", o->version);
        snprintf(step, sizeof step, "%d", o->step);
        const char *params[] = {p->schema, p->table, method, v.f.oid, shadow, kept, ver, step};
        if (!pg_exec(c,
                     "INSERT INTO partmig.conversions (table_schema, table_name, method, state, old_oid, shadow_name,"
                     " kept_name, version, step) VALUES ($1, $2, $3, 'preflight', $4::oid, $5, $6, $7::int, $8::int)",
                     8, params, NULL, err) ||
            !load_row(&v, err))
            goto done;
    } else {
        if (o->dry_run) {
            printf("-- resume the %s conversion of %s from state %s\n", v.row.method, v.q_table, v.row.state);
            ok = true;
            goto done;
        }
        if (!gather_original(&v, err))
            goto done;
    }
    if (!strcmp(v.row.method, "attach"))
        ok = run_attach(&v, err);
    else
        ok = run_copy(&v, err);
done:
    rollback_quietly(c);
    arena_free(&a);
    return ok;
}

/* ---- undo ---- */

static bool undo_unswapped_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Buf b = {0};
    if (!strcmp(v->row.method, "copy")) {
        buf_printf(&b,
                   "DROP TRIGGER IF EXISTS partmig_capture ON %s;\nDROP TRIGGER IF EXISTS partmig_no_truncate ON %s;\n",
                   v->q_table, v->q_table);
        buf_printf(&b, "DROP TABLE IF EXISTS %s;\n", v->q_shadow);
        buf_printf(&b, "DROP FUNCTION IF EXISTS %s(integer, boolean);\nDROP FUNCTION IF EXISTS %s();\n", v->q_resync,
                   v->q_capture);
        buf_printf(&b, "DROP FUNCTION IF EXISTS %s();\nDROP TABLE IF EXISTS %s;\n", v->q_guard, v->q_log);
    } else {
        buf_printf(&b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", v->q_table,
                   sql_ident(v->a, range_check_name(v)));
    }
    bool ok = script(c, &b, err) && set_state(v, "rolled_back", err);
    buf_free(&b);
    return ok;
}

/* Renames recorded at the swap, undone: the new table's index (or identity
 * sequence) gives its name back (to STAGED, or dropped with the table) and
 * the old one takes it.  ALTER TABLE renames indexes and sequences alike. */
static bool names_back(Conv *v, Buf *b, bool staged_too, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {v->row.id};
    if (!pg_exec(v->c, "SELECT original, parked, staged FROM partmig.conversion_names WHERE conversion = $1::bigint", 1,
                 params, &r, err))
        return false;
    const char *schema = v->p->schema;
    if (staged_too)
        for (int i = 0; i < pg_nrows(r); i++)
            if (!pg_isnull(r, i, 2))
                buf_printf(b, "ALTER TABLE %s RENAME TO %s;\n", sql_qualified(v->a, schema, pg_get(r, i, 0)),
                           sql_ident(v->a, pg_get(r, i, 2)));
    for (int i = 0; i < pg_nrows(r); i++)
        buf_printf(b, "ALTER TABLE %s RENAME TO %s;\n", sql_qualified(v->a, schema, pg_get(r, i, 1)),
                   sql_ident(v->a, pg_get(r, i, 0)));
    pg_result_free(r);
    return true;
}

static bool new_table_oid(Conv *v, const char **oid, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {v->q_table};
    if (!pg_exec(v->c, "SELECT $1::regclass::oid::text", 1, params, &r, err))
        return false;
    *oid = arena_strdup(v->a, pg_get(r, 0, 0));
    pg_result_free(r);
    return true;
}

static bool swap_back_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Arena *a = v->a;
    Buf b = {0}, views = {0};
    bool ok = false;
    const char *new_oid;
    buf_printf(&b, "LOCK TABLE %s, %s IN ACCESS EXCLUSIVE MODE", v->q_table, v->q_kept);
    if (!pg_run(c, buf_str(&b), err) || !new_table_oid(v, &new_oid, err) || !views_capture(v, new_oid, &views, err))
        goto done;
    buf_reset(&b);
    /* identity columns: the old sequence goes past every value the new one
     * handed out (rows written since carry them back); names_back gives the
     * sequences their names back */
    for (int i = 0; i < v->f.nident; i++)
        if (!identity_continue(v, v->q_table, v->q_kept, v->f.ident_cols[i], NULL, NULL, err))
            goto done;
    const char *parking = sql_ident(a, name63(a, v->p->table, "_partmig_undo"));
    if (!strcmp(v->row.method, "copy")) {
        buf_printf(&b,
                   "DROP TRIGGER IF EXISTS partmig_reverse ON %s;\nDROP TRIGGER IF EXISTS partmig_no_truncate ON %s;\n",
                   v->q_table, v->q_table);
        buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_table, sql_ident(a, v->row.shadow));
        buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_kept, sql_ident(a, v->p->table));
        if (!names_back(v, &b, true, err) || !sequences_move(v, new_oid, v->q_table, &b, err))
            goto done;
        buf_append(&b, buf_str(&views));
    } else {
        /* attach: rows written since into the newer partitions go back too */
        const char *cols = sql_column_list(a, v->f.cols, v->f.ncols, "");
        buf_printf(&b, "ALTER TABLE %s DETACH PARTITION %s;\n", v->q_table, v->q_kept);
        buf_printf(&b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", v->q_kept, sql_ident(a, range_check_name(v)));
        buf_printf(&b, "INSERT INTO %s (%s)%s SELECT %s FROM %s;\n", v->q_kept, cols, overriding(v), cols, v->q_table);
        buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_table, parking);
        buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_kept, sql_ident(a, v->p->table));
        if (!sequences_move(v, new_oid, v->q_table, &b, err))
            goto done;
        buf_append(&b, buf_str(&views));
        buf_printf(&b, "DROP TABLE %s;\n", sql_qualified(a, v->p->schema, name63(a, v->p->table, "_partmig_undo")));
        if (!v->f.pk_has_partkey)
            buf_printf(&b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", v->q_table,
                       sql_ident(a, attach_index_name(v)));
        if (!names_back(v, &b, false, err))
            goto done;
    }
    ok = script(c, &b, err) && set_state(v, "rolled_back", err);
done:
    buf_free(&b);
    buf_free(&views);
    return ok;
}

static bool drop_shadow_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Buf b = {0};
    buf_printf(&b, "DROP TABLE IF EXISTS %s;\nDROP FUNCTION IF EXISTS %s();\nDROP FUNCTION IF EXISTS %s();\n",
               v->q_shadow, v->q_reverse, v->q_guard);
    bool ok = script(c, &b, err);
    buf_free(&b);
    return ok;
}

bool convert_undo(PgConn *c, const Policy *p, const ConvertOptions *o, Err *err)
{
    Arena a = {0};
    Conv v;
    bool ok = false, present = false;
    conv_init(&v, c, p, o, &a);
    if (!ledger_present(c, &present, err))
        goto done;
    if (!present) {
        ok = true; /* no ledger: nothing was converted */
        goto done;
    }
    if (!load_row(&v, err))
        goto done;
    if (!v.row.found || state_is(&v, "rolled_back")) {
        ok = true;
        goto done;
    }
    if (state_is(&v, "finalized")) {
        err_set(err, PM_EDB, "cannot roll back the conversion of \"%s\": it was finalized and the old table dropped",
                v.qname);
        err_hint(err, "the partitioned table holds all rows; convert it back by hand if you must");
        goto done;
    }
    if (!gather_original(&v, err))
        goto done;
    if (!state_is(&v, "swapped")) {
        ok = conv_locked(&v, "undoing the unfinished conversion", undo_unswapped_body, err);
        if (ok && !strcmp(v.row.method, "attach")) {
            const char *qix = sql_qualified(&a, p->schema, attach_index_name(&v));
            ok = pg_run(c, arena_printf(&a, "DROP INDEX CONCURRENTLY IF EXISTS %s", qix), err);
        }
        if (ok)
            fprintf(stderr, "partmig: %s: conversion undone before its swap; the table is as it was\n", v.qname);
        goto done;
    }
    if (!strcmp(v.row.method, "copy")) {
        int64_t rows = 0;
        if (!verify_counts(&v, v.q_kept, v.q_table, NULL, &rows, err)) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            err_set(err, PM_EDB, "refusing to roll back: %s", msg);
            err_hint(err, "the old table is not a complete copy; nothing was changed");
            goto done;
        }
    }
    if (!conv_locked(&v, "swapping the tables back", swap_back_body, err))
        goto done;
    if (!strcmp(v.row.method, "copy") && !conv_locked(&v, "dropping the partitioned table", drop_shadow_body, err))
        goto done;
    fprintf(stderr, "partmig: %s: rolled back; the original table is in place with every row\n", v.qname);
    ok = true;
done:
    rollback_quietly(c);
    arena_free(&a);
    return ok;
}

/* ---- finalize ---- */

static bool finalize_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    /* the state again, locked: nothing may have rolled back or finalized
     * the conversion since the verification */
    PgResult *r = NULL;
    const char *ip[] = {v->row.id};
    if (!pg_exec(c, "SELECT state FROM partmig.conversions WHERE id = $1::bigint FOR UPDATE", 1, ip, &r, err))
        return false;
    bool swapped = pg_nrows(r) > 0 && !strcmp(pg_get(r, 0, 0), "swapped");
    const char *now = pg_nrows(r) > 0 ? arena_strdup(v->a, pg_get(r, 0, 0)) : "gone";
    pg_result_free(r);
    if (!swapped) {
        err_set(err, PM_EDB, "cannot finalize \"%s\": its conversion changed to state %s meanwhile", v->qname, now);
        return err_hint(err, "nothing was dropped; run partmig status to see what happened");
    }
    Buf b = {0};
    if (!strcmp(v->row.method, "copy")) {
        buf_printf(&b,
                   "DROP TRIGGER IF EXISTS partmig_reverse ON %s;\nDROP TRIGGER IF EXISTS partmig_no_truncate ON %s;\n",
                   v->q_table, v->q_table);
        buf_printf(&b, "DROP TABLE %s;\n", v->q_kept);
        buf_printf(&b, "DROP FUNCTION IF EXISTS %s();\nDROP FUNCTION IF EXISTS %s();\n", v->q_reverse, v->q_guard);
    }
    bool ok = (b.len == 0 || script(c, &b, err)) && set_state(v, "finalized", err);
    const char *params[] = {v->row.id};
    ok = ok &&
         pg_exec(c, "UPDATE partmig.conversions SET finished_at = now() WHERE id = $1::bigint", 1, params, NULL, err);
    buf_free(&b);
    return ok;
}

static bool finalize_table(PgConn *c, const char *schema, const char *table, Err *err)
{
    Arena a = {0};
    Policy p;
    policy_defaults(&p);
    p.schema = schema;
    p.table = table;
    Conv v;
    ConvertOptions o = {0};
    bool ok = false, present = false;
    conv_init(&v, c, &p, &o, &a);
    if (!ledger_present(c, &present, err))
        goto done;
    if (!present || !load_row(&v, err) || !v.row.found) {
        if (err->code == PM_OK)
            err_set(err, PM_EDB, "no conversion of \"%s\" is recorded", v.qname);
        goto done;
    }
    if (state_is(&v, "finalized")) {
        fprintf(stderr, "partmig: %s: already finalized\n", v.qname);
        ok = true;
        goto done;
    }
    if (!state_is(&v, "swapped")) {
        err_set(err, PM_EDB, "cannot finalize \"%s\": its conversion is in state %s, not swapped", v.qname,
                v.row.state);
        err_hint(err, "run partmig apply to finish the conversion first");
        goto done;
    }
    if (!gather_original(&v, err))
        goto done;
    int64_t rows = 0;
    if (!strcmp(v.row.method, "copy")) {
        double t0 = progress_now();
        if (!verify_rows(&v, v.q_kept, v.q_table, NULL, true, &rows, err)) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            err_set(err, PM_EDB, "refusing to drop the old table: %s", msg);
            err_hint(err, "nothing was dropped; partmig rollback can still swap back");
            goto done;
        }
        fprintf(stderr, "partmig: %s: counts and row fingerprints of every partition match (%.1f s)\n", v.qname,
                progress_now() - t0);
        const char *params[] = {v.row.id, arena_printf(&a, "%lld", (long long)rows)};
        if (!pg_exec(c, "UPDATE partmig.conversions SET rows_verified = $2::bigint WHERE id = $1::bigint", 2, params,
                     NULL, err))
            goto done;
    }
    if (!conv_locked(&v, "dropping the old table", finalize_body, err))
        goto done;
    if (!strcmp(v.row.method, "copy"))
        fprintf(stderr, "partmig: %s: verified %lld rows in both tables; dropped %s\n", v.qname, (long long)rows,
                v.q_kept);
    else
        fprintf(stderr, "partmig: %s: finalized (the old table stays as partition %s)\n", v.qname, v.q_kept);
    ok = true;
done:
    rollback_quietly(c);
    arena_free(&a);
    return ok;
}

int cmd_finalize(int argc, char **argv)
{
    static const char usage[] = "usage: partmig finalize TABLE [--db URL] [--wait SECONDS]\n\n"
                                "Drop the old table kept by a copy conversion, after verifying that it and the\n"
                                "partitioned table hold the same rows: exact counts and a fingerprint of the rows'\n"
                                "contents, partition by partition, in one snapshot.  After this, rollback of the\n"
                                "conversion is no longer possible.  Takes the one-runner lock.\n\n"
                                "options:\n"
                                "  --db URL        the database (default PARTMIG_DATABASE_URL, then PG* variables)\n"
                                "  --wait SECONDS  wait up to SECONDS for another runner's lock (default 0)\n\n"
                                "exit codes:\n"
                                "  0  finalized (or already finalized)\n"
                                "  1  a database operation or the verification failed; nothing was dropped\n"
                                "  2  bad usage\n"
                                "  3  another runner holds the lock\n";
    /* TABLE is the one positional argument; runner_parse takes the rest */
    const char *target = NULL;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest)
        return PM_EDB;
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        bool takes_value = !strcmp(argv[i], "--db") || !strcmp(argv[i], "--wait");
        if (argv[i][0] != '-' && !target) {
            target = argv[i];
            continue;
        }
        rest[nrest++] = argv[i];
        if (takes_value && i + 1 < argc)
            rest[nrest++] = argv[++i];
    }
    RunOptions ro;
    int rc = runner_parse(nrest, rest, OPT_DB | OPT_WAIT, usage, &ro);
    free(rest);
    if (rc >= 0)
        return rc;
    if (!target) {
        fprintf(stderr, "partmig: finalize: which table?\nhint: partmig finalize TABLE [--db URL] [--wait SECONDS]\n");
        return PM_EINPUT;
    }
    char schema[128] = "public", table[128];
    const char *dot = strchr(target, '.');
    if (dot) {
        snprintf(schema, sizeof schema, "%.*s", (int)(dot - target), target);
        snprintf(table, sizeof table, "%s", dot + 1);
    } else
        snprintf(table, sizeof table, "%s", target);
    Err err;
    err_clear(&err);
    Arena a = {0};
    PgConn *c = NULL;
    bool ok =
        runner_connect(&ro, &c, &err) && runner_lock(c, ro.wait_s, &a, &err) && finalize_table(c, schema, table, &err);
    if (c)
        pg_close(c);
    arena_free(&a);
    return ok ? PM_OK : runner_fail(&err);
}
