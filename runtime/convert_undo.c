/* convert_undo.c: undoing a conversion in any state -- before the swap
 * (drop what was made), after it (swap back, rows written since carried
 * back), or detaching an attached table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/quote.h"
#include "../model/partitions.h"
#include "convert_internal.h"
#include "progress.h"
#include "retry.h"
#include "runner.h"

static bool undo_unswapped_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Buf b = {0};
    if (!strcmp(v->row.method, "copy")) {
        buf_printf(&b,
                   "DROP TRIGGER IF EXISTS partmig_capture ON %s;\nDROP TRIGGER IF EXISTS partmig_no_truncate ON %s;\n",
                   v->q_table, v->q_table);
        /* the new table goes after this (drop_new_table): its partitions a
         * few at a time, then it, with the undo log's trigger function */
        buf_printf(&b, "DROP FUNCTION IF EXISTS %s(integer, boolean);\nDROP FUNCTION IF EXISTS %s();\n", v->q_resync,
                   v->q_capture);
        buf_printf(&b, "DROP FUNCTION IF EXISTS %s();\nDROP TABLE IF EXISTS %s;\n", v->q_guard, v->q_log);
    } else {
        buf_printf(&b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", v->q_table,
                   quote_ident_str(v->a, conv_range_check_name(v)));
    }
    bool ok = conv_script(c, &b, err) && conv_set_state(v, "rolled_back", err);
    buf_free(&b);
    return ok;
}

bool conv_names_back(Conv *v, Buf *b, bool staged_too, Err *err)
{
    PgResult *r = NULL;
    /* whether a relation has the original name now: a policy index the
     * swap named may have been dropped since (its steps undone alone) */
    const char *schema = v->p->schema;
    const char *params[] = {v->row.id, schema};
    if (!pg_exec(v->c,
                 "SELECT k.original, k.parked, k.staged, EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN"
                 " pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $2 AND c.relname ="
                 " k.original) FROM partmig.conversion_names k WHERE k.conversion = $1::bigint",
                 2, params, &r, err))
        return false;
    if (staged_too)
        for (int i = 0; i < pg_nrows(r); i++)
            if (!pg_isnull(r, i, 2) && pg_get(r, i, 3)[0] == 't')
                buf_printf(b, "ALTER TABLE %s RENAME TO %s;\n", quote_qualified_str(v->a, schema, pg_get(r, i, 0)),
                           quote_ident_str(v->a, pg_get(r, i, 2)));
    for (int i = 0; i < pg_nrows(r); i++) {
        if (!*pg_get(r, i, 1))
            continue; /* a policy index's name no old index had: nothing parked */
        /* copy: a name the new table took after the swap (the policy's
         * index step builds the index the old one gave way to) goes with
         * the new table, which is dropped: the old index takes it back */
        bool taken = false;
        const char *tp[] = {schema, pg_get(r, i, 0), v->q_table};
        if (pg_isnull(r, i, 2) && !strcmp(v->row.method, "copy") &&
            !pg_query_bool(v->c,
                           "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c"
                           " ON c.oid = i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                           " WHERE n.nspname = $1 AND c.relname = $2 AND i.indrelid = pg_catalog.to_regclass($3))",
                           3, tp, &taken, err)) {
            pg_result_free(r);
            return false;
        }
        if (taken)
            buf_printf(b, "DROP INDEX %s;\n", quote_qualified_str(v->a, schema, pg_get(r, i, 0)));
        buf_printf(b, "ALTER TABLE %s RENAME TO %s;\n", quote_qualified_str(v->a, schema, pg_get(r, i, 1)),
                   quote_ident_str(v->a, pg_get(r, i, 0)));
    }
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

bool conv_undo_log(Conv *v, const char **log, Err *err)
{
    bool present = false;
    const char *params[] = {v->q_undo};
    if (!pg_query_bool(v->c, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", 1, params, &present, err))
        return false;
    *log = present ? v->q_undo : NULL;
    return true;
}

/* Rounds of the undo log's re-copy into the old table before the swap
 * back, so that the locked round has little left: until a round finds
 * fewer than a quarter of the keys it may take, or UNDO_ROUNDS_SECS pass
 * (a table written faster than the rounds go leaves the rest to the locked
 * round).  A round reads the new table in the partitions its entries name:
 * at 1,431 daily partitions 1,000 entries name most of them, and such a
 * round took 2 s (the locked one as long, with writers waiting), so rounds
 * start at UNDO_BATCH_MIN * 2 entries, are halved once over UNDO_ROUND_SECS
 * and doubled while fast, as the forward re-copy's are. */
#define UNDO_BATCH_MIN   50
#define UNDO_BATCH       1000
#define UNDO_ROUND_SECS  0.08
#define UNDO_ROUNDS_SECS 60.0

/* A re-copy into the old table that its unique index refused: a row
 * written since the swap repeats a key the old table's key forbids (the new
 * table's key includes the partition column). */
static bool undo_refused(Conv *v, Err *err)
{
    if (strcmp(pg_last_sqlstate(v->c), "23505") != 0)
        return false;
    /* the server's detail names the key: "Key (id)=(5) already exists." */
    char detail[sizeof err->msg];
    snprintf(detail, sizeof detail, "%s", err->hint[0] ? err->hint : err->msg);
    err_set(err, PM_EDB,
            "cannot roll back \"%s\": rows written since the swap repeat a key the old table's unique index "
            "forbids (%s)",
            v->qname, detail);
    return err_hint(err,
                    "nothing was swapped back; remove or change the repeated rows in %s and run rollback again, "
                    "or keep the conversion (partmig finalize %s)",
                    v->qname, v->qname);
}

static bool undo_catch_up(Conv *v, Err *err)
{
    double t0 = retry_now();
    int64_t total = 0;
    int lim = UNDO_BATCH_MIN * 2;
    char lims[16];
    const char *params[] = {v->row.id, lims};
    for (;;) {
        PgResult *r = NULL;
        double t1 = retry_now();
        snprintf(lims, sizeof lims, "%d", lim);
        if (!pg_exec(v->c, "SELECT partmig.conversion_resync_back($1::bigint, $2::integer, false)", 2, params, &r, err))
            return undo_refused(v, err);
        int64_t done = pg_get_int(r, 0, 0);
        pg_result_free(r);
        total += done;
        double took = retry_now() - t1;
        if (done < lim / 4 || retry_now() - t0 > UNDO_ROUNDS_SECS)
            break;
        if (took > UNDO_ROUND_SECS && lim > UNDO_BATCH_MIN)
            lim = lim / 2 > UNDO_BATCH_MIN ? lim / 2 : UNDO_BATCH_MIN;
        else if (took < UNDO_ROUND_SECS / 4 && lim < UNDO_BATCH)
            lim = lim * 2 < UNDO_BATCH ? lim * 2 : UNDO_BATCH;
    }
    fprintf(stderr, "partmig: %s: carried %lld key(s) written since the swap back into %s (%.1f s)\n", v->qname,
            (long long)total, v->q_kept, retry_now() - t0);
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
    if (!pg_run(c, buf_str(&b), err) || !new_table_oid(v, &new_oid, err) ||
        !conv_views_capture(v, new_oid, &views, err))
        goto done;
    buf_reset(&b);
    /* identity columns: the old sequence goes past every value the new one
     * handed out (rows written since carry them back); conv_names_back gives the
     * sequences their names back */
    for (int i = 0; i < v->f.nident; i++)
        if (!conv_identity_continue(v, v->q_table, v->q_kept, v->f.ident_cols[i], NULL, NULL, err))
            goto done;
    const char *parking = quote_ident_str(a, conv_name63(a, v->p->table, "_partmig_undo"));
    if (!strcmp(v->row.method, "copy")) {
        /* the keys written since the last round: the tables are locked, so
         * this is all of them (no undo log: an older partmig's trigger kept
         * the old table up to date) */
        const char *log = NULL;
        if (!conv_undo_log(v, &log, err) ||
            (log &&
             !pg_exec(c, "SELECT partmig.conversion_resync_back($1::bigint, NULL, true)", 1, &v->row.id, NULL, err))) {
            undo_refused(v, err);
            goto done;
        }
        /* the undo log's triggers go with the new table (drop_new_table,
         * its partitions a few at a time): dropping them here would lock
         * each partition's copy of each at once */
        buf_printf(&b, "DROP TRIGGER IF EXISTS partmig_no_truncate ON %s;\n", v->q_table);
        buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_table, quote_ident_str(a, v->row.shadow));
        buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_kept, quote_ident_str(a, v->p->table));
        if (!conv_names_back(v, &b, true, err) || !conv_sequences_move(v, new_oid, v->q_table, &b, err))
            goto done;
        buf_append(&b, buf_str(&views));
    } else {
        /* attach: rows written since into the newer partitions go back too */
        const char *cols = sql_column_list(a, v->f.cols, v->f.ncols, "");
        buf_printf(&b, "ALTER TABLE %s DETACH PARTITION %s;\n", v->q_table, v->q_kept);
        buf_printf(&b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", v->q_kept,
                   quote_ident_str(a, conv_range_check_name(v)));
        buf_printf(&b, "INSERT INTO %s (%s)%s SELECT %s FROM %s;\n", v->q_kept, cols, conv_overriding(v), cols,
                   v->q_table);
        buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_table, parking);
        buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_kept, quote_ident_str(a, v->p->table));
        if (!conv_sequences_move(v, new_oid, v->q_table, &b, err))
            goto done;
        buf_append(&b, buf_str(&views));
        buf_printf(&b, "DROP TABLE %s;\n",
                   quote_qualified_str(a, v->p->schema, conv_name63(a, v->p->table, "_partmig_undo")));
        /* the key the attach made (when the old table had no primary key
         * holding the partition column; convert_attach.c) */
        if (!v->f.pk_has_partkey || !v->f.pkey_index)
            buf_printf(&b, "ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s;\n", v->q_table,
                       quote_ident_str(a, conv_attach_index_name(v)));
        if (!conv_names_back(v, &b, false, err))
            goto done;
    }
    ok = conv_script(c, &b, err) && conv_set_state(v, "rolled_back", err);
done:
    buf_free(&b);
    buf_free(&views);
    return ok;
}

/* The leaves of the partitioned table TABLE, a few at a time: EACH gets
 * a batch's oids ("{1,2}") and names ("a, b"), as many as take at most
 * half of max_locks_per_transaction locks (a leaf, its indexes, its TOAST
 * table and index, and its triggers and constraints, which a DROP locks)
 * -- thousands of partitions in one transaction take
 * more than the server's lock table holds. */
typedef bool (*LeafBatch)(Conv *v, const char *oids, const char *names, void *ctx, Err *err);
static bool each_leaf_batch(Conv *v, const char *table, LeafBatch each, void *ctx, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {table};
    if (!pg_exec(v->c,
                 "SELECT c.oid::text, c.oid::pg_catalog.regclass::text, 1 + (SELECT count(*) FROM pg_catalog.pg_index i"
                 " WHERE i.indrelid = c.oid) + CASE WHEN c.reltoastrelid <> 0 THEN 2 ELSE 0 END"
                 " + (SELECT count(*) FROM pg_catalog.pg_trigger g WHERE g.tgrelid = c.oid)"
                 " + (SELECT count(*) FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid),"
                 " pg_catalog.current_setting('max_locks_per_transaction')::int / 2"
                 " FROM pg_catalog.pg_partition_tree(pg_catalog.to_regclass($1)) t"
                 " JOIN pg_catalog.pg_class c ON c.oid = t.relid WHERE t.isleaf AND t.level > 0",
                 1, params, &r, err))
        return false;
    bool ok = true;
    Buf oids = {0}, names = {0};
    for (int i = 0, locks = 0; ok && i <= pg_nrows(r); i++) {
        int need = i < pg_nrows(r) ? (int)pg_get_int(r, i, 2) : 0,
            budget = i < pg_nrows(r) ? (int)pg_get_int(r, i, 3) : 0;
        if (names.len && (i == pg_nrows(r) || locks + need > budget)) {
            buf_append(&oids, "}");
            ok = each(v, buf_str(&oids), buf_str(&names), ctx, err);
            buf_reset(&oids);
            buf_reset(&names);
            locks = 0;
        }
        if (i == pg_nrows(r))
            break;
        buf_printf(&oids, "%s%s", oids.len ? "," : "{", pg_get(r, i, 0));
        buf_printf(&names, "%s%s", names.len ? ", " : "", pg_get(r, i, 1));
        locks += need;
    }
    buf_free(&oids);
    buf_free(&names);
    pg_result_free(r);
    return ok;
}

static bool run_sql_body(PgConn *c, void *ctx, Err *err)
{
    return pg_run(c, ctx, err);
}

static bool drop_leaves(Conv *v, const char *oids, const char *names, void *ctx, Err *err)
{
    (void)oids;
    (void)ctx;
    const char *sql = arena_printf(v->a, "DROP TABLE IF EXISTS %s", names);
    return run_locked(v->c, "dropping the new table's partitions", run_sql_body, (void *)sql, err);
}

/* The new table's partitions, a few a transaction.  One DROP TABLE of a
 * partitioned table locks every partition, its indexes and TOAST tables at
 * once: at thousands of partitions more than the server's lock table holds
 * ("out of shared memory"; 1,431 daily partitions failed so with the
 * default max_locks_per_transaction).  The new table is nobody's by now
 * (rolled back before its swap, or swapped back), so each DROP commits. */
static bool drop_new_leaves(Conv *v, Err *err)
{
    return each_leaf_batch(v, v->q_shadow, drop_leaves, NULL, err);
}

static bool drop_shadow_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Buf b = {0};
    buf_printf(&b, "DROP TABLE IF EXISTS %s;\nDROP FUNCTION IF EXISTS %s();\nDROP FUNCTION IF EXISTS %s();\n",
               v->q_shadow, v->q_reverse, v->q_guard);
    buf_printf(&b, "DROP TABLE IF EXISTS %s;\n", v->q_undo);
    /* the capture objects too: a run stopped right after the swap left them */
    buf_printf(
        &b, "DROP FUNCTION IF EXISTS %s(integer, boolean);\nDROP FUNCTION IF EXISTS %s();\nDROP TABLE IF EXISTS %s;\n",
        v->q_resync, v->q_capture, v->q_log);
    bool ok = conv_script(c, &b, err);
    buf_free(&b);
    return ok;
}

static bool drop_leaf_triggers_body(PgConn *c, void *ctx, Err *err)
{
    return conv_script(c, ctx, err);
}

/* partmig's undo log triggers on each partition (and on a partition
 * detached since, which keeps them), a few partitions a transaction, each
 * locked by itself for a moment: one DROP TRIGGER on the partitioned table
 * would lock every partition at once.  Before the trigger function can
 * go.  Triggers cloned from the table (an earlier sql_version) are the
 * table's to drop. */
bool conv_drop_leaf_triggers(Conv *v, Err *err)
{
    const char *params[] = {arena_printf(v->a, "%s()", v->q_reverse)};
    for (;;) {
        PgResult *r = NULL;
        /* every trigger calling the function, by its name (whatever it is:
         * each round drops what it read, so the loop ends) */
        if (!pg_exec(v->c,
                     "SELECT g.tgname::text, g.tgrelid::pg_catalog.regclass::text FROM pg_catalog.pg_trigger g"
                     " JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid"
                     " WHERE g.tgfoid = pg_catalog.to_regprocedure($1) AND g.tgparentid = 0 AND c.relkind <> 'p'"
                     " ORDER BY g.tgrelid, g.tgname"
                     " LIMIT greatest(3, pg_catalog.current_setting('max_locks_per_transaction')::int * 3 / 8)",
                     1, params, &r, err))
            return false;
        Buf b = {0};
        for (int i = 0; i < pg_nrows(r); i++)
            buf_printf(&b, "DROP TRIGGER IF EXISTS %s ON %s;\n", quote_ident_str(v->a, pg_get(r, i, 0)),
                       pg_get(r, i, 1));
        bool more = pg_nrows(r) > 0;
        pg_result_free(r);
        bool ok = !more || run_locked_brief(v->c, "removing partmig's triggers from the partitions",
                                            drop_leaf_triggers_body, &b, err);
        buf_free(&b);
        if (!ok || !more)
            return ok;
    }
}

/* After the table is back: partmig's new table, its partitions first,
 * and what else the conversion made. */
static bool drop_new_table(Conv *v, Err *err)
{
    if (drop_new_leaves(v, err) && conv_drop_leaf_triggers(v, err) &&
        conv_locked(v, "dropping the partitioned table", drop_shadow_body, err))
        return true;
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    err_set(err, PM_EDB, "\"%s\" is rolled back, but partmig's new table %s is still there: %s", v->qname, v->q_shadow,
            msg);
    return err_hint(
        err,
        "the table holds every row again; the new table is a copy nobody uses: drop it (DROP TABLE %s) when convenient",
        v->q_shadow);
}

/* The undo log's horizon is compared as a 32-bit transaction id (a row's
 * xmin): within 2^31 transactions of it.  partmig stops trusting it a
 * margin before (maintain seals the log from UNDO_SEAL_AGE on). */
#define UNDO_HORIZON_LIMIT (((int64_t)1 << 31) - ((int64_t)1 << 27))
#define UNDO_SEAL_AGE      ((int64_t)1 << 30)

static bool seal_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    return pg_exec(c, "SELECT partmig.conversion_seal_undo_log($1::bigint)", 1, &v->row.id, NULL, err);
}

typedef struct Scan {
    bool all_rows;
    int64_t rows;
} Scan;

typedef struct SealLeaves {
    Conv *v;
    const char *oids;
    const char *fresh; /* out: those that had no trigger of partmig's, "{...}" */
} SealLeaves;

static bool seal_leaves_body(PgConn *c, void *ctx, Err *err)
{
    SealLeaves *l = ctx;
    PgResult *r = NULL;
    const char *params[] = {l->v->row.id, l->oids};
    if (!pg_exec(c,
                 "SELECT partmig.conversion_seal_leaves($1::bigint, $2::oid[]),"
                 " partmig.conversion_seal_fresh($1::bigint, $2::oid[])::text",
                 2, params, &r, err))
        return false;
    l->fresh = arena_strdup(l->v->a, pg_get(r, 0, 1));
    pg_result_free(r);
    return true;
}

static bool undo_scan(Conv *v, const char *oids, bool all_rows, int64_t *rows, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {v->row.id, oids, all_rows ? "true" : "false"};
    if (!pg_exec(v->c, "SELECT partmig.conversion_undo_scan($1::bigint, $2::oid[], $3::boolean)", 3, params, &r, err))
        return false;
    *rows += pg_get_int(r, 0, 0);
    pg_result_free(r);
    return true;
}

/* A batch of leaves: every change to them logged from now on (each leaf
 * locked by itself, briefly; partmig's triggers made on those made or
 * attached since the swap), then, in a later transaction, the rows written
 * to them since the swap -- every row of those that had no trigger. */
static bool scan_leaves(Conv *v, const char *oids, const char *names, void *ctx, Err *err)
{
    (void)names;
    Scan *s = ctx;
    SealLeaves l = {v, oids, "{}"};
    return run_locked_brief(v->c, "logging every change to the new table's partitions from now on", seal_leaves_body,
                            &l, err) &&
           undo_scan(v, oids, s->all_rows, &s->rows, err) &&
           (!strcmp(l.fresh, "{}") || undo_scan(v, l.fresh, true, &s->rows, err));
}

/* Whether a partition of the new table lacks partmig's triggers (made or
 * attached since they were made on each; not for a conversion whose
 * triggers are cloned from the table by an earlier sql_version). */
static bool fresh_leaves(Conv *v, bool *any, Err *err)
{
    const char *params[] = {v->q_table};
    return pg_query_bool(
        v->c,
        "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g WHERE g.tgrelid = pg_catalog.to_regclass($1)"
        " AND g.tgname = 'partmig_reverse') AND EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree("
        "pg_catalog.to_regclass($1)) t WHERE t.isleaf AND t.level > 0 AND NOT EXISTS (SELECT 1 FROM"
        " pg_catalog.pg_trigger g WHERE g.tgrelid = t.relid AND g.tgname = 'partmig_reverse_all'))",
        1, params, any, err);
}

bool conv_seal_undo(Conv *v, bool finalizing, Err *err)
{
    const char *log = NULL;
    PgResult *r = NULL;
    if (!conv_undo_log(v, &log, err))
        return false;
    if (!log)
        return true;
    if (!pg_exec(
            v->c,
            "SELECT undo_horizon IS NOT NULL, coalesce(pg_catalog.txid_snapshot_xmax("
            "pg_catalog.txid_current_snapshot()) - undo_horizon, 0) FROM partmig.conversions WHERE id = $1::bigint",
            1, &v->row.id, &r, err))
        return false;
    bool open = pg_nrows(r) > 0 && pg_get(r, 0, 0)[0] == 't';
    int64_t age = open ? pg_get_int(r, 0, 1) : 0;
    pg_result_free(r);
    if (!open) {
        /* sealed before: partitions made or attached since have no
         * trigger of partmig's; they get them, and their rows are logged */
        bool any = false;
        Scan s = {false, 0};
        if (!fresh_leaves(v, &any, err) || (any && !each_leaf_batch(v, v->q_table, scan_leaves, &s, err)))
            return false;
        if (s.rows > 0)
            fprintf(stderr, "partmig: %s: logged the %lld row(s) of partitions made or attached since the seal\n",
                    v->qname, (long long)s.rows);
        return true;
    }
    /* a negative age: the horizon is ahead of this server's ids (the
     * database restored from another cluster's dump, say) */
    Scan s = {age >= UNDO_HORIZON_LIMIT || age < 0, 0};
    if (s.all_rows && finalizing) {
        if (age < 0)
            err_set(err, PM_EDB,
                    "cannot finalize \"%s\": the swap's transaction ids are ahead of this server's (the database "
                    "was restored elsewhere?): partmig cannot tell the rows written since the swap from the rest",
                    v->qname);
        else
            err_set(err, PM_EDB,
                    "cannot finalize \"%s\": %lld transactions since the swap, too many to tell the rows written "
                    "since from the rest (a row's xmin is compared within 2^31)",
                    v->qname, (long long)age);
        return err_hint(err,
                        "nothing was dropped; partmig rollback %s copies every row back (then apply again), or drop "
                        "the old table %s yourself once you trust the new one; partmig maintain seals the log "
                        "before this happens",
                        v->qname, v->q_kept);
    }
    double t0 = retry_now();
    if (!conv_locked(v, "logging every change to the new table from now on", seal_body, err) ||
        !each_leaf_batch(v, v->q_table, scan_leaves, &s, err) ||
        !pg_exec(v->c, "UPDATE partmig.conversions SET undo_horizon = NULL WHERE id = $1::bigint", 1, &v->row.id, NULL,
                 err))
        return false;
    fprintf(stderr, "partmig: %s: logged %lld %s in the undo log (%.1f s)\n", v->qname, (long long)s.rows,
            s.all_rows ? "rows (every row: too many transactions since the swap to tell)"
                       : "row(s) inserted or updated in place since the swap",
            retry_now() - t0);
    return true;
}

static bool gather_leaves(Conv *v, const char *oids, const char *names, void *ctx, Err *err)
{
    (void)names;
    (void)ctx;
    const char *params[] = {v->row.id, oids};
    return pg_exec(v->c, "SELECT partmig.conversion_undo_gather($1::bigint, $2::oid[])", 2, params, NULL, err);
}

/* Rollback, after the seal: every (key, partition value) whose row differs
 * between the old table and the new one, logged, whatever no trigger saw --
 * a key a BEFORE UPDATE trigger changed unnamed (partmig_reverse_move is
 * UPDATE OF the key columns), a partition detached, written and attached
 * again, a table attached with rows, triggers disabled meanwhile.  The new
 * table's rows are fingerprinted a few partitions at a time, then compared
 * with the old table's in one statement that locks no partition. */
static bool undo_differences(Conv *v, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {v->row.id, NULL};
    if (!pg_exec(v->c, "SELECT partmig.conversion_undo_gather($1::bigint, $2::oid[])", 2, params, &r, err))
        return false;
    bool needed = pg_get(r, 0, 0)[0] == 't';
    pg_result_free(r);
    if (!needed)
        return true;
    if (!each_leaf_batch(v, v->q_table, gather_leaves, NULL, err) ||
        !pg_exec(v->c, "SELECT partmig.conversion_undo_compare($1::bigint)", 1, &v->row.id, &r, err))
        return false;
    int64_t n = pg_get_int(r, 0, 0);
    pg_result_free(r);
    if (n > 0)
        fprintf(stderr,
                "partmig: %s: logged %lld key(s) changed unseen by partmig's triggers (found by comparing the two "
                "tables)\n",
                v->qname, (long long)n);
    return true;
}

bool convert_seal_aged(PgConn *c, const Policy *p, Err *err)
{
    Arena a = {0};
    Conv v;
    bool ok = false, present = false, aged = false;
    conv_init(&v, c, p, NULL, &a);
    if (!conv_ledger_present(c, &present, err))
        goto done;
    if (!present || !conv_load_row(&v, err) || !v.row.found || !conv_state_is(&v, "swapped") ||
        strcmp(v.row.method, "copy") != 0) {
        ok = err->code == PM_OK;
        goto done;
    }
    char limit[32];
    snprintf(limit, sizeof limit, "%lld", (long long)UNDO_SEAL_AGE);
    const char *params[] = {v.row.id, limit};
    if (!pg_query_bool(
            c,
            "SELECT coalesce(pg_catalog.txid_snapshot_xmax(pg_catalog.txid_current_snapshot()) - undo_horizon"
            " >= $2::bigint, false) FROM partmig.conversions WHERE id = $1::bigint",
            2, params, &aged, err))
        goto done;
    ok = !aged || conv_seal_undo(&v, false, err);
done:
    arena_free(&a);
    return ok;
}

bool convert_undo(PgConn *c, const Policy *p, const ConvertOptions *o, Err *err)
{
    Arena a = {0};
    Conv v;
    bool ok = false, present = false;
    conv_init(&v, c, p, o, &a);
    if (!conv_ledger_present(c, &present, err))
        goto done;
    if (!present) {
        ok = true; /* no ledger: nothing was converted */
        goto done;
    }
    if (!conv_load_row(&v, err))
        goto done;
    if (!v.row.found || conv_state_is(&v, "rolled_back")) {
        ok = true;
        goto done;
    }
    if (conv_state_is(&v, "finalized")) {
        err_set(err, PM_EDB, "cannot roll back the conversion of \"%s\": it was finalized and the old table dropped",
                v.qname);
        err_hint(err, "the partitioned table holds all rows; convert it back by hand if you must");
        goto done;
    }
    if (!conv_gather_original(&v, err))
        goto done;
    if (!conv_state_is(&v, "swapped")) {
        ok = conv_locked(&v, "undoing the unfinished conversion", undo_unswapped_body, err);
        if (ok && !strcmp(v.row.method, "copy"))
            ok = drop_new_table(&v, err);
        if (ok && !strcmp(v.row.method, "attach")) {
            const char *qix = quote_qualified_str(&a, p->schema, conv_attach_index_name(&v));
            ok = pg_run(c, arena_printf(&a, "DROP INDEX CONCURRENTLY IF EXISTS %s", qix), err);
        }
        if (ok)
            fprintf(stderr, "partmig: %s: conversion undone before its swap; the table is as it was\n", v.qname);
        goto done;
    }
    if (!strcmp(v.row.method, "copy")) {
        /* the old table as the new one is, but for the keys written since
         * the last round, which the swap back re-copies under its lock */
        int64_t rows = 0;
        const char *log = NULL;
        if (!conv_seal_undo(&v, false, err) || !conv_undo_log(&v, &log, err) || (log && !undo_differences(&v, err)) ||
            (log && !undo_catch_up(&v, err)))
            goto done;
        if (!conv_verify_counts(&v, v.q_kept, v.q_table, log, &rows, err)) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            err_set(err, PM_EDB, "refusing to roll back: %s", msg);
            err_hint(err, "the old table is not a complete copy; nothing was changed");
            goto done;
        }
        /* what was written during the verification, so that the locked
         * round has little left */
        if (log && !undo_catch_up(&v, err))
            goto done;
    }
    if (!conv_locked(&v, "swapping the tables back", swap_back_body, err))
        goto done;
    if (!strcmp(v.row.method, "copy") && !drop_new_table(&v, err))
        goto done;
    fprintf(stderr, "partmig: %s: rolled back; the original table is in place with every row\n", v.qname);
    ok = true;
done:
    conv_rollback_quietly(c);
    arena_free(&a);
    return ok;
}

bool convert_list_open(PgConn *c, Arena *a, ConvertOpen **out, int *n, Err *err)
{
    *out = NULL;
    *n = 0;
    bool present = false;
    if (!conv_ledger_present(c, &present, err))
        return false;
    if (!present)
        return true;
    PgResult *r = NULL;
    /* progress: the batches' rows against the original table's estimate;
     * idle: since the state or a batch last changed */
    if (!pg_exec(c,
                 "SELECT c.table_schema || '.' || c.table_name, c.method, c.state, coalesce(c.version, 0),"
                 " coalesce(c.step, 0),"
                 " coalesce((SELECT s.state FROM partmig.steps s WHERE s.version = c.version AND s.step = c.step), ''),"
                 " coalesce(b.n, 0), coalesce(b.rows, 0),"
                 " coalesce((SELECT CASE WHEN k.reltuples >= 0 THEN k.reltuples::bigint ELSE t.n_live_tup END"
                 " FROM pg_catalog.pg_class k LEFT JOIN pg_catalog.pg_stat_all_tables t ON t.relid = k.oid"
                 " WHERE k.oid = c.old_oid), -1),"
                 " coalesce((SELECT t.n_live_tup FROM pg_catalog.pg_stat_all_tables t"
                 " WHERE t.relid = pg_catalog.to_regclass('partmig.conv_' || c.id || '_log')), -1),"
                 " coalesce((SELECT t.n_live_tup FROM pg_catalog.pg_stat_all_tables t"
                 " WHERE t.relid = pg_catalog.to_regclass('partmig.conv_' || c.id || '_undo')), -1),"
                 " to_char(c.started_at, 'YYYY-MM-DD HH24:MI:SSOF'),"
                 " extract(epoch FROM now() - c.started_at)::bigint,"
                 " extract(epoch FROM now() - greatest(c.updated_at, b.last))::bigint"
                 " FROM partmig.conversions c"
                 " LEFT JOIN LATERAL (SELECT count(*) AS n, sum(copied_rows) AS rows, max(done_at) AS last"
                 " FROM partmig.batches WHERE conversion = c.id) b ON true"
                 " WHERE c.state NOT IN ('finalized', 'rolled_back') ORDER BY c.id",
                 0, NULL, &r, err))
        return false;
    int rows = pg_nrows(r);
    ConvertOpen *v = arena_alloc(a, sizeof *v * (size_t)(rows + 1));
    for (int i = 0; i < rows; i++) {
        ConvertOpen *o = &v[i];
        o->table = arena_strdup(a, pg_get(r, i, 0));
        o->method = arena_strdup(a, pg_get(r, i, 1));
        o->state = arena_strdup(a, pg_get(r, i, 2));
        o->version = (int)pg_get_int(r, i, 3);
        o->step = (int)pg_get_int(r, i, 4);
        o->step_state = arena_strdup(a, pg_get(r, i, 5));
        o->batches = pg_get_int(r, i, 6);
        o->rows_copied = pg_get_int(r, i, 7);
        o->rows_estimate = pg_get_int(r, i, 8);
        o->change_log_rows = pg_get_int(r, i, 9);
        o->undo_log_rows = pg_get_int(r, i, 10);
        o->started_at = arena_strdup(a, pg_get(r, i, 11));
        o->age_s = pg_get_int(r, i, 12);
        o->idle_s = pg_get_int(r, i, 13);
    }
    pg_result_free(r);
    *out = v;
    *n = rows;
    return true;
}
