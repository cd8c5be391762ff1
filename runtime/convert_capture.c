/* convert_capture.c: the copy method's change capture -- the log of keys
 * changed while the rows are copied, the trigger that fills it, the
 * function that re-copies those keys, and the catch-up rounds before the
 * swap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert_internal.h"
#include "progress.h"

#define RESYNC_BATCH       1000 /* log entries per re-copy transaction: its row locks make writers of those rows wait */
#define RESYNC_PENDING     100  /* swap when fewer changed keys wait: the swap re-copies them under its lock */
#define RESYNC_MAX_SECS    600
#define RESYNC_SETTLE_SECS 2.0

/* A column of partmig's own in the change log, which also holds the key
 * under the table's own column names: BASE, with "_" appended while a key
 * column has that name. */
static const char *log_own_column(Conv *v, const char *base)
{
    const char *name = base;
    for (int i = 0; i < v->f.nkey; i++)
        if (!strcmp(v->f.key[i], name)) {
            name = arena_printf(v->a, "%s_", name);
            i = -1; /* check the longer name against every key column again */
        }
    return sql_ident(v->a, name);
}

/* The change log, the capture trigger, and the re-copy function.
 *
 * The log holds, per change, the key and the partition value of the row
 * version it ends (OLD: update, delete) and of the one it makes when the key
 * or partition value changed (NEW: insert, update).  Every version the new
 * table can hold for a key was copied while current, so the re-copy finds
 * it by key and partition value among the key's entries (the partition
 * value lets the DELETE prune to one partition).
 *
 * The re-copy takes the keys of the first LIM entries, share-locks their
 * current rows in the old table (skipping locked ones, unless WAIT: in the
 * swap the table is locked), then, in statements that see every change
 * committed before the locks, takes all entries of those keys (and of keys
 * that have no row), deletes the new table's rows they name, and inserts
 * the current rows: set-based, one statement each.  A key whose row is
 * locked by a writer waits in the log for a later round. */
static bool capture_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Arena *a = v->a;
    const TableFacts *f = &v->f;
    Buf b = {0}, eq = {0}, xeq = {0};
    const char *seq = log_own_column(v, "partmig_seq"), *part = log_own_column(v, "partmig_part");
    const char *pcol = sql_ident(a, v->p->column);
    const char *kl = sql_column_list(a, f->key, f->nkey, "");
    const char *lkl = sql_column_list(a, f->key, f->nkey, "l.");
    const char *okl = sql_column_list(a, f->key, f->nkey, "o.");
    const char *oldk = sql_column_list(a, f->key, f->nkey, "OLD.");
    const char *newk = sql_column_list(a, f->key, f->nkey, "NEW.");
    const char *cols = sql_column_list(a, f->cols, f->ncols, "");
    const char *ocols = sql_column_list(a, f->cols, f->ncols, "o.");
    const char *logtype = v->q_log; /* a table's row type has its name */
    for (int i = 0; i < f->nkey; i++) {
        const char *k = sql_ident(a, f->key[i]);
        buf_printf(&eq, "%ss.%s = g.%s", i ? " AND " : "", k, k);
        buf_printf(&xeq, "%spm_x.%s", i ? ", " : "", k);
    }
    buf_printf(&b, "CREATE TABLE %s (%s bigserial PRIMARY KEY", v->q_log, seq);
    for (int i = 0; i < f->nkey; i++)
        buf_printf(&b, ", %s %s", sql_ident(a, f->key[i]), f->key_types[i]);
    buf_printf(&b, ", %s %s);\n", part, f->part_type);
    buf_printf(&b, "CREATE INDEX ON %s (%s);\n", v->q_log, kl);
    /* the trigger runs as its owner: application roles need no rights on partmig's log */
    buf_printf(&b,
               "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER"
               " SET search_path = pg_catalog, pg_temp AS $pm$\nBEGIN\n%s"
               "  IF TG_OP <> 'INSERT' THEN INSERT INTO %s (%s, %s) VALUES (%s, OLD.%s); END IF;\n"
               "  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (%s, OLD.%s) IS DISTINCT FROM (%s, NEW.%s)) THEN\n"
               "    INSERT INTO %s (%s, %s) VALUES (%s, NEW.%s);\n  END IF;\n  RETURN NULL;\nEND\n$pm$;\n",
               v->q_capture, conv_trigger_guard(a, v->row.old_oid), v->q_log, kl, part, oldk, pcol, oldk, pcol, newk,
               pcol, v->q_log, kl, part, newk, pcol);
    buf_printf(&b,
               "CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql AS $pm$\nBEGIN\n"
               "  RAISE EXCEPTION 'table %% is being converted by partmig: TRUNCATE is refused until the conversion "
               "finishes or is rolled back', TG_TABLE_NAME;\nEND\n$pm$;\n",
               v->q_guard);
    /* $1: entries to take (NULL: all), $2: the table is locked (the swap).
     * Every column is qualified and the variables win any other clash, so
     * no user column name can change what a statement means.  Joins are
     * nested loops over the batch: index probes, pruned to one partition. */
    buf_printf(&b,
               "CREATE FUNCTION %s(integer, boolean) RETURNS bigint LANGUAGE plpgsql"
               " SET search_path = pg_catalog, pg_temp SET enable_hashjoin = off SET enable_mergejoin = off"
               " AS $pm$\n#variable_conflict use_variable\n"
               "DECLARE pm_last bigint; pm_locked %s[]; pm_batch %s[];\nBEGIN\n"
               "  IF $2 THEN\n"
               "    WITH d AS (DELETE FROM %s l RETURNING l.*) SELECT array_agg(ROW(d.*)::%s) INTO pm_batch FROM d;\n"
               "  ELSE\n"
               "    SELECT max(l.%s) INTO pm_last FROM (SELECT l.%s FROM %s l ORDER BY l.%s LIMIT $1) l;\n"
               "    IF pm_last IS NULL THEN RETURN 0; END IF;\n"
               "    SELECT array_agg(k.r) INTO pm_locked FROM (SELECT ROW(NULL, %s, NULL)::%s AS r FROM %s o"
               " WHERE (%s) IN (SELECT %s FROM %s l WHERE l.%s <= pm_last) FOR SHARE OF o SKIP LOCKED) k;\n"
               "    WITH d AS (DELETE FROM %s l WHERE (%s) IN (SELECT %s FROM %s l WHERE l.%s <= pm_last)"
               " AND ((%s) IN (SELECT %s FROM unnest(pm_locked) pm_x)"
               " OR NOT EXISTS (SELECT 1 FROM %s o WHERE (%s) = (%s))) RETURNING l.*)"
               " SELECT array_agg(ROW(d.*)::%s) INTO pm_batch FROM d;\n"
               "  END IF;\n"
               "  IF pm_batch IS NULL THEN RETURN 0; END IF;\n"
               "  DELETE FROM %s s USING (SELECT DISTINCT %s, pm_x.%s FROM unnest(pm_batch) pm_x) g WHERE %s AND s.%s "
               "= g.%s;\n"
               "  INSERT INTO %s (%s)%s SELECT %s FROM %s o WHERE (%s) IN (SELECT %s FROM unnest(pm_batch) pm_x);\n"
               "  RETURN (SELECT count(*) FROM (SELECT DISTINCT %s FROM unnest(pm_batch) pm_x) k);\nEND\n$pm$;\n",
               v->q_resync, logtype, logtype, v->q_log, logtype, seq, seq, v->q_log, seq, okl, logtype, v->q_table, okl,
               lkl, v->q_log, seq, v->q_log, lkl, lkl, v->q_log, seq, lkl, buf_str(&xeq), v->q_table, okl, lkl, logtype,
               v->q_shadow, buf_str(&xeq), part, buf_str(&eq), pcol, part, v->q_shadow, cols, conv_overriding(v), ocols,
               v->q_table, okl, buf_str(&xeq), buf_str(&xeq));
    buf_free(&eq);
    buf_free(&xeq);
    buf_printf(&b,
               "CREATE TRIGGER partmig_capture AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION "
               "%s();\n",
               v->q_table, v->q_capture);
    buf_printf(&b,
               "CREATE TRIGGER partmig_no_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s();\n",
               v->q_table, v->q_guard);
    conv_revoke_public(&b, v->q_capture, "");
    conv_revoke_public(&b, v->q_guard, "");
    conv_revoke_public(&b, v->q_resync, "integer, boolean");
    bool ok = conv_script(c, &b, err) && conv_set_state(v, "mirroring", err);
    buf_free(&b);
    return ok;
}

bool conv_install_capture(Conv *v, Err *err)
{
    return conv_locked(v, "installing the change capture trigger", capture_body, err);
}

/* Re-copy changed keys until fewer than RESYNC_PENDING wait. */
bool conv_resync_catch_up(Conv *v, Err *err)
{
    double t0 = progress_now();
    const char *sql = arena_printf(v->a, "SELECT %s(%d, false)", v->q_resync, RESYNC_BATCH);
    const char *count = arena_printf(v->a, "SELECT count(*) FROM %s", v->q_log);
    int64_t total = 0;
    double busy = 0;   /* seconds spent in re-copy rounds */
    double settle = 0; /* when fewer than a round's work first waited */
    for (;;) {
        PgResult *r = NULL;
        double t1 = progress_now();
        if (!pg_exec(v->c, sql, 0, NULL, &r, err)) {
            /* 23514: a changed row fits no partition of the shadow; add its
             * partition and go on (rows keep coming: each round may find more) */
            if (strcmp(pg_last_sqlstate(v->c), "23514") != 0)
                return false;
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            int made = 0;
            if (!conv_cover_changed_rows(v, false, &made, err))
                return false;
            if (made == 0) {
                err_set(err, PM_EDB, "\"%s\": re-copying rows changed during the conversion failed: %s", v->qname, msg);
                return err_hint(err,
                                "find the row named above in %s, move it into the policy's partitions (or set "
                                "default_partition = true), then run apply again",
                                v->q_table);
            }
            continue;
        }
        int64_t done = pg_get_int(r, 0, 0);
        pg_result_free(r);
        busy += progress_now() - t1;
        if (!pg_exec(v->c, count, 0, NULL, &r, err))
            return false;
        int64_t left = pg_get_int(r, 0, 0);
        pg_result_free(r);
        total += done;
        /* caught up: what waits the swap re-copies under its lock, so aim
         * below RESYNC_PENDING; a table so busy that it never gets there
         * swaps after RESYNC_SETTLE_SECS with about one round's work */
        if (left < RESYNC_PENDING)
            break;
        if (done > 0 && left <= RESYNC_BATCH) {
            if (settle == 0)
                settle = progress_now();
            else if (progress_now() - settle > RESYNC_SETTLE_SECS)
                break;
        }
        if (progress_now() - t0 > RESYNC_MAX_SECS) {
            err_set(err, PM_EDB, "\"%s\": writes arrive faster than partmig re-copies them (%lld changed rows wait)",
                    v->qname, (long long)left);
            return err_hint(err, "run apply again at a quieter time; the conversion resumes where it is");
        }
    }
    if (total > 0)
        fprintf(stderr, "partmig: %s: re-copied %lld keys changed during the copy (%.0f keys/s)\n", v->qname,
                (long long)total, busy > 0 ? (double)total / busy : 0.0);
    return true;
}

bool conv_drop_capture(Conv *v, Err *err)
{
    Buf b = {0};
    buf_printf(
        &b, "DROP FUNCTION IF EXISTS %s(integer, boolean);\nDROP FUNCTION IF EXISTS %s();\nDROP TABLE IF EXISTS %s;\n",
        v->q_resync, v->q_capture, v->q_log);
    bool ok = conv_script(v->c, &b, err);
    buf_free(&b);
    return ok;
}
