/* finalize.c: `partmig finalize TABLE` -- verify a converted table against
 * the kept original, then drop the original. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../commands.h"
#include "../common/quote.h"
#include "../model/partitions.h"
#include "convert_internal.h"
#include "progress.h"
#include "runner.h"
#include "retry.h"

/* Finalize's locks wait at most this long per try (25 ms, 50 ms, then
 * FINALIZE_LOCK_MS): writers queue behind a waiting lock request, and
 * nothing here is urgent enough to stall them longer.  Many tries for the
 * point of no return; a few for the inert triggers' removal, which can
 * wait for the next finalize run. */
#define FINALIZE_LOCK_MS   80
#define FINALIZE_TRIES     40
#define TRIGGER_DROP_TRIES 10

/* Connections of the verification without --jobs: the old table read on
 * one while the partitioned one is read on the other. */
#define FINALIZE_JOBS 2

/* The point of no return, short and touching no table: the state check
 * (locked: nothing may have rolled back or finalized the conversion since
 * the verification), the undo log's trigger made inert (so that writers
 * stop logging; an older partmig's trigger wrote into the old table) and
 * the conversion finalized.  The old table's
 * drop follows in its own short transaction; an interrupted finalize
 * finishes it when run again. */
static bool finalize_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
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
    /* a writer's statement already under way runs the trigger body it
     * started with, even after the function is replaced: let those finish
     * (and hold new ones back for this short transaction) so that none
     * still writes into the old table (an older partmig's trigger) or the
     * undo log once they are dropped */
    if (!strcmp(v->row.method, "copy") &&
        !pg_run(c, arena_printf(v->a, "LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE", v->q_table), err))
        return false;
    if (!strcmp(v->row.method, "copy"))
        for (int i = 0; i < 2; i++) {
            const char *fn = i ? v->q_guard : v->q_reverse;
            bool present = false;
            const char *fp[] = {arena_printf(v->a, "%s()", fn)};
            if (!pg_query_bool(c, "SELECT pg_catalog.to_regprocedure($1) IS NOT NULL", 1, fp, &present, err)) {
                buf_free(&b);
                return false;
            }
            if (present)
                buf_printf(&b,
                           "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql"
                           " SET search_path = pg_catalog, pg_temp AS $pm$BEGIN RETURN NEW; END$pm$;\n",
                           fn);
        }
    bool ok = (b.len == 0 || conv_script(c, &b, err)) && conv_set_state(v, "finalized", err);
    ok = ok && pg_exec(c, "UPDATE partmig.conversions SET finished_at = now() WHERE id = $1::bigint", 1, ip, NULL, err);
    buf_free(&b);
    return ok;
}

static bool drop_kept_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    /* the original table by its oid: whatever carries its old name later
     * is not partmig's to drop */
    const char *params[] = {v->row.old_oid}, *name = "";
    if (!pg_query_text(c,
                       "SELECT c.oid::pg_catalog.regclass::text FROM pg_catalog.pg_class c WHERE c.oid = $1::oid"
                       " AND c.relkind = 'r'",
                       1, params, v->a, &name, err))
        return false;
    return !*name || pg_run(c, arena_printf(v->a, "DROP TABLE %s", name), err);
}

/* partmig's triggers still on the new table itself (the TRUNCATE guard;
 * an earlier sql_version's undo log triggers too, each with a copy on every
 * partition), *N of them, the first as *NAME (unless NULL). */
static const char *const partmig_triggers =
    "SELECT t.tgname::text FROM pg_catalog.pg_trigger t WHERE t.tgrelid = pg_catalog.to_regclass($1)"
    " AND t.tgname IN ('partmig_reverse', 'partmig_reverse_move', 'partmig_reverse_all', 'partmig_no_truncate')"
    " AND t.tgparentid = 0 ORDER BY 1";

static bool triggers_left(Conv *v, PgConn *c, int *n, const char **name, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {v->q_table};
    if (!pg_exec(c, partmig_triggers, 1, params, &r, err))
        return false;
    *n = pg_nrows(r);
    if (name)
        *name = *n ? arena_strdup(v->a, pg_get(r, 0, 0)) : NULL;
    pg_result_free(r);
    return true;
}

/* Remove one of partmig's inert triggers, and their functions and the
 * undo log once none is left.  One trigger a transaction: a DROP TRIGGER
 * on a partitioned table locks every partition and every partition's copy
 * of the trigger, and thousands of partitions times a few triggers is
 * more than the server's lock table holds.  It locks the partitions in its
 * own order, which can deadlock with a writer's statement that locked the
 * parent and some of them (the writer is the one the server cancels): the
 * parent first, by itself, so that no writer going through it holds a
 * partition meanwhile, under the short, growing lock_timeout of
 * conv_locked. */
static bool drop_triggers_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Buf b = {0};
    int n = 0;
    const char *name = NULL;
    bool ok = triggers_left(v, c, &n, &name, err);
    if (ok && n > 0)
        buf_printf(&b, "LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE;\nDROP TRIGGER IF EXISTS %s ON %s;\n", v->q_table,
                   quote_ident_str(v->a, name), v->q_table);
    if (ok && n <= 1)
        buf_printf(&b, "DROP FUNCTION IF EXISTS %s();\nDROP FUNCTION IF EXISTS %s();\nDROP TABLE IF EXISTS %s;\n",
                   v->q_reverse, v->q_guard, v->q_undo);
    ok = ok && conv_script(c, &b, err);
    buf_free(&b);
    return ok;
}

/* What a finalized copy conversion leaves to drop: the old table, then
 * partmig's inert triggers and their functions (they do nothing; left in
 * place with a note when writers keep the table too busy). */
static bool finalize_cleanup(Conv *v, Err *err)
{
    if (strcmp(v->row.method, "copy") != 0)
        return true;
    if (!conv_locked(v, "dropping the old table", drop_kept_body, err)) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        err_set(err, PM_EDB, "\"%s\" is finalized, but its old table %s is still there: %s", v->qname, v->q_kept, msg);
        return err_hint(err, "run partmig finalize %s again to drop it", v->qname);
    }
    Err terr;
    err_clear(&terr);
    const ConvertOptions *saved = v->o;
    ConvertOptions o = saved ? *saved : (ConvertOptions){0};
    o.lock_retries = TRIGGER_DROP_TRIES;
    v->o = &o;
    /* those on each partition first, a few partitions a transaction; then
     * those on the table, a trigger a transaction (the last one with the
     * functions) */
    bool dropped = conv_drop_leaf_triggers(v, &terr);
    for (int n = 1, round = 0; dropped && n > 0 && round < 8; round++)
        dropped = conv_locked(v, "removing partmig's triggers", drop_triggers_body, &terr) &&
                  triggers_left(v, v->c, &n, NULL, &terr);
    v->o = saved;
    if (!dropped)
        fprintf(stderr,
                "partmig: note: %s: partmig's inert triggers stay on the table for now (%s); "
                "run partmig finalize %s again to remove them\n",
                v->qname, terr.msg, v->qname);
    return true;
}

static bool finalize_table(PgConn *c, const RunOptions *ro, const char *schema, const char *table, Err *err)
{
    Arena a = {0};
    Policy p;
    policy_defaults(&p);
    p.schema = schema;
    p.table = table;
    Conv v;
    ConvertOptions o = {0};
    o.lock_timeout_ms = FINALIZE_LOCK_MS;
    o.lock_retries = FINALIZE_TRIES;
    o.jobs = ro->jobs > 0 ? ro->jobs : FINALIZE_JOBS;
    o.db_url = ro->db;
    bool ok = false, present = false;
    conv_init(&v, c, &p, &o, &a);
    if (!conv_ledger_present(c, &present, err))
        goto done;
    if (!present || !conv_load_row(&v, err) || !v.row.found) {
        if (err->code == PM_OK)
            err_set(err, PM_EDB, "no conversion of \"%s\" is recorded", v.qname);
        goto done;
    }
    if (conv_state_is(&v, "finalized")) {
        ok = finalize_cleanup(&v, err);
        if (ok)
            fprintf(stderr, "partmig: %s: already finalized\n", v.qname);
        goto done;
    }
    if (!conv_state_is(&v, "swapped")) {
        err_set(err, PM_EDB, "cannot finalize \"%s\": its conversion is in state %s, not swapped", v.qname,
                v.row.state);
        err_hint(err, "run partmig apply to finish the conversion first");
        goto done;
    }
    if (!conv_gather_original(&v, err))
        goto done;
    int64_t rows = 0;
    if (!strcmp(v.row.method, "copy")) {
        double t0 = retry_now();
        /* keys written since the swap are the new table's alone: the
         * comparison leaves out the keys in the undo log, made complete */
        const char *log = NULL;
        if (!conv_seal_undo(&v, true, err) || !conv_undo_log(&v, &log, err))
            goto done;
        if (!conv_verify_rows(&v, v.q_kept, v.q_table, log, true, &rows, err)) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            err_set(err, PM_EDB, "refusing to drop the old table: %s", msg);
            err_hint(err, "nothing was dropped; partmig rollback can still swap back");
            goto done;
        }
        fprintf(stderr, "partmig: %s: counts and row fingerprints of every partition match (%.1f s)\n", v.qname,
                retry_now() - t0);
        const char *params[] = {v.row.id, arena_printf(&a, "%lld", (long long)rows)};
        if (!pg_exec(c, "UPDATE partmig.conversions SET rows_verified = $2::bigint WHERE id = $1::bigint", 2, params,
                     NULL, err))
            goto done;
    }
    if (!conv_locked(&v, "finalizing the conversion", finalize_body, err) || !finalize_cleanup(&v, err))
        goto done;
    if (!strcmp(v.row.method, "copy"))
        fprintf(stderr, "partmig: %s: verified %lld rows in both tables; dropped %s\n", v.qname, (long long)rows,
                v.q_kept);
    else
        fprintf(stderr, "partmig: %s: finalized (the old table stays as partition %s)\n", v.qname, v.q_kept);
    ok = true;
done:
    conv_rollback_quietly(c);
    arena_free(&a);
    return ok;
}

int cmd_finalize(int argc, char **argv)
{
    static const char usage[] = "usage: partmig finalize TABLE [--db URL] [--wait SECONDS] [--jobs N]\n\n"
                                "Drop the old table kept by a copy conversion, after verifying that it and the\n"
                                "partitioned table hold the same rows: exact counts and a fingerprint of the rows'\n"
                                "contents, partition by partition, in one snapshot.  After this, rollback of the\n"
                                "conversion is no longer possible.  Takes the one-runner lock.\n\n"
                                "options:\n"
                                "  --db URL        the database (default PARTMIG_DATABASE_URL, then PG* variables);\n"
                                "                  others see it in ps: give a password through\n"
                                "                  PARTMIG_DATABASE_URL, PGPASSWORD or ~/.pgpass instead\n"
                                "  --wait SECONDS  wait up to SECONDS for another runner's lock (default 0)\n"
                                "  --jobs N        connections of the verification (default 2): the old table\n"
                                "                  is read on one while the partitioned table is read on the\n"
                                "                  other, in one shared snapshot; 1 reads them one after the\n"
                                "                  other; more than 2 uses 2\n\n"
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
        bool takes_value = !strcmp(argv[i], "--db") || !strcmp(argv[i], "--wait") || !strcmp(argv[i], "--jobs");
        if (argv[i][0] != '-' && !target) {
            target = argv[i];
            continue;
        }
        rest[nrest++] = argv[i];
        if (takes_value && i + 1 < argc)
            rest[nrest++] = argv[++i];
    }
    RunOptions ro;
    int rc = runner_parse(nrest, rest, OPT_DB | OPT_WAIT | OPT_JOBS, usage, &ro);
    free(rest);
    if (rc >= 0)
        return rc;
    if (!target) {
        fprintf(stderr, "partmig: finalize: which table?\n"
                        "hint: partmig finalize TABLE [--db URL] [--wait SECONDS] [--jobs N]\n");
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
    bool ok = runner_connect(&ro, &c, &err) && runner_lock(c, ro.wait_s, &a, &err) &&
              finalize_table(c, &ro, schema, table, &err);
    if (c)
        pg_close(c);
    arena_free(&a);
    return ok ? PM_OK : runner_fail(&err);
}
