/* convert_copy.c: the copy method -- the new partitioned table beside the
 * old one, change capture, the batched backfill, indexes, the re-copy of
 * changed keys, and the short swap with its undo log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/quote.h"
#include "../model/partitions.h"
#include "convert_internal.h"
#include "progress.h"
#include "runner.h"
#include "retry.h"

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
               v->q_shadow, v->q_table, by, quote_ident_str(a, p->column));
    /* INCLUDING IDENTITY: identity columns stay identity columns of the same
     * kind, with a new sequence of the same options on the parent (the
     * partitions have none: inserts go through the parent); the swap sets it
     * to continue after the old one */
    /* the primary key is built after the conv_backfill (convert_index.c) */
    for (int i = 0; i < n; i++)
        partition_create_sql(&b, p, v->row.shadow, &specs[i]);
    for (int i = 0; i < v->f.nfk; i++)
        buf_printf(&b, "ALTER TABLE %s ADD CONSTRAINT %s %s;\n", v->q_shadow, quote_ident_str(a, v->f.fk_names[i]),
                   v->f.fk_defs[i]);
    if (v->f.replident == 'f')
        buf_printf(&b, "ALTER TABLE %s REPLICA IDENTITY FULL;\n", v->q_shadow);
    if (!pg_run(v->c, "BEGIN", err) || !conv_script(v->c, &b, err))
        goto done;
    buf_reset(&b);
    if (!conv_owner_copy(v, v->q_shadow, v->f.owner, &b, err) || !conv_reloptions_copy(v, v->q_shadow, &b, err) ||
        !conv_script(v->c, &b, err))
        goto done;
    const char *params[] = {v->row.id, from, to};
    if (!pg_exec(v->c, "UPDATE partmig.conversions SET lower_bound = $2, upper_bound = $3 WHERE id = $1::bigint", 3,
                 params, NULL, err) ||
        !conv_set_state(v, "shadow_created", err) || !pg_run(v->c, "COMMIT", err))
        goto done;
    v->row.lower = from;
    v->row.upper = to;
    fprintf(stderr, "partmig: %s: created %s with %d partitions (%s .. %s)\n", v->qname, v->q_shadow, n,
            from ? from : "-", to ? to : "-");
    ok = true;
done:
    if (!ok)
        conv_rollback_quietly(v->c);
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
    if (!conv_set_state(v, "backfilling", err) || !pg_run(v->c, "COMMIT", err))
        goto done;
    ok = true;
done:
    if (!ok)
        conv_rollback_quietly(v->c);
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

bool conv_backfill(Conv *v, Err *err)
{
    CopyPlan pl = {0};
    pl.db_url = v->o->db_url;
    pl.conversion = v->row.id;
    pl.src = v->q_table;
    pl.dst = v->q_shadow;
    pl.cols = sql_column_list(v->a, v->f.cols, v->f.ncols, "");
    pl.overriding = conv_overriding(v);
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
    char state[6];
    if (copier_run(&pl, state, err))
        return true;
    /* a row written between the range scan and its batch, outside every
     * partition (23514, check_violation, as "no partition of relation ..."
     * is): add its partition and go on (the copier resumes after the
     * batches it recorded) */
    if (strcmp(state, "23514") != 0)
        return false;
    int made = 0;
    Err first = *err;
    err_clear(err);
    if (!conv_cover_changed_rows(v, true, &made, err))
        return false;
    if (made > 0)
        return copier_run(&pl, state, err);
    *err = first;
    /* no partition was missing: a row outside every partition is possible
     * only without a DEFAULT partition; else a CHECK constraint refused it */
    bool has_default = false;
    const char *params[] = {v->q_shadow};
    Err ignored;
    if (pg_query_bool(v->c, "SELECT partdefid <> 0 FROM pg_catalog.pg_partitioned_table WHERE partrelid = $1::regclass",
                      1, params, &has_default, &ignored) &&
        has_default)
        return false;
    return err_hint(err,
                    "a row of %s fits no partition of the new table; move it into the policy's partitions "
                    "(or set default_partition = true), then run apply again",
                    v->q_table);
}

bool conv_record_names(Conv *v, const char *original, const char *parked, const char *staged, Err *err)
{
    const char *params[] = {v->row.id, original, parked, staged};
    return pg_exec(v->c,
                   "INSERT INTO partmig.conversion_names (conversion, original, parked, staged)"
                   " VALUES ($1::bigint, $2, $3, $4) ON CONFLICT DO NOTHING",
                   4, params, NULL, err);
}

static bool set_quiet(Conv *v, bool on, Err *err)
{
    const char *params[] = {conv_quiet_setting(v), on ? "on" : ""};
    return pg_exec(v->c, "SELECT pg_catalog.set_config($1, $2, false)", 2, params, NULL, err);
}

/* The rollback point after the swap: the undo log, its triggers on each
 * partition of the new table (partmig.conversion_install_undo_log,
 * sql/conversion.sql): from the swap on, what the new table's rows change
 * leaves its key in partmig.conv_<id>_undo, which a rollback re-copies into
 * the old table and finalize leaves out of its comparison.  Made before the
 * swap so that the swap's lock window does not grow with the partition
 * count; most partitions' made with their indexes over the job connections
 * (conv_build_indexes), the rest here.  They must not fire for partmig's
 * own re-copies, made in a session that sets conv_quiet_setting, which the
 * triggers' WHEN tests.  Made after the copy, so that the bulk of the rows
 * never evaluates them.  Triggers made by an earlier run are kept (an older
 * partmig's made a synchronous copy into the old table instead: rollback
 * and finalize tell them apart by the undo log's presence). */
static bool install_reverse(Conv *v, Err *err)
{
    const char *ip[] = {v->row.id, conv_quiet_setting(v)};
    double t0 = retry_now();
    bool ok = pg_run(v->c, "BEGIN", err) &&
              pg_exec(v->c, "SELECT partmig.conversion_install_undo_log($1::bigint, $2)", 2, ip, NULL, err) &&
              pg_run(v->c, "COMMIT", err);
    if (!ok) {
        conv_rollback_quietly(v->c);
        return false;
    }
    fprintf(stderr,
            "partmig: %s: the undo log's triggers are on every partition of %s (they log from the swap on; %.0f ms)\n",
            v->qname, v->q_shadow, (retry_now() - t0) * 1000.0);
    return true;
}

static bool swap_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Arena *a = v->a;
    const char *schema = v->p->schema;
    Buf b = {0}, views = {0};
    PgResult *r = NULL;
    bool ok = false;
    double t0 = retry_now();
    /* the shadow first: only partmig and autovacuum use it, so waiting for
     * it (autovacuum works through the freshly filled partitions) blocks no
     * application; the old table's lock is taken last, held the shortest */
    buf_printf(&b, "LOCK TABLE %s, %s IN ACCESS EXCLUSIVE MODE", v->q_shadow, v->q_table);
    if (!pg_run(c, buf_str(&b), err))
        goto done;
    buf_reset(&b);
    /* the last changed keys; the table is locked, so this is all of them */
    int made = 0;
    if (!conv_cover_changed_rows(v, false, &made, err) ||
        !pg_exec(c, "SELECT partmig.conversion_resync($1::bigint, NULL, true)", 1, &v->row.id, NULL, err))
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
    if (!conv_views_capture(v, v->row.old_oid, &views, err))
        goto done;
    buf_printf(&b, "DROP TRIGGER partmig_capture ON %s;\nDROP TRIGGER partmig_no_truncate ON %s;\n", v->q_table,
               v->q_table);
    buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_table, quote_ident_str(a, v->row.kept));
    buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_shadow, quote_ident_str(a, v->p->table));
    /* indexes: the old ones step aside, the new ones take their names */
    if (v->f.pkey_index) {
        const char *parked = arena_printf(a, "pm%s_old_pkey", v->row.id);
        const char *staged = conv_name63(a, v->row.shadow, "_pkey");
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", quote_qualified_str(a, schema, v->f.pkey_index),
                   quote_ident_str(a, parked));
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", quote_qualified_str(a, schema, staged),
                   quote_ident_str(a, v->f.pkey_index));
        if (!conv_record_names(v, v->f.pkey_index, parked, staged, err))
            goto done;
    }
    /* the policy's indexes, built before the swap under staged names (a
     * conversion begun by an older partmig has none: its build_index steps
     * build them after the swap) */
    int npi = v->p->nindexes;
    const char **pi_names = arena_alloc(a, sizeof *pi_names * (size_t)(npi + 1));
    bool *pi_staged = arena_alloc(a, sizeof *pi_staged * (size_t)(npi + 1));
    bool *pi_recorded = arena_alloc(a, sizeof *pi_recorded * (size_t)(npi + 1));
    for (int j = 0; j < npi; j++) {
        pi_names[j] = policy_index_name(&v->p->indexes[j], v->p, a);
        const char *sp[] = {schema, conv_policy_index_staged(v, j), v->q_shadow};
        if (!pg_query_bool(c,
                           "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid ="
                           " i.indexrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname ="
                           " $1 AND c.relname = $2 AND i.indrelid = $3::regclass AND i.indisvalid)",
                           3, sp, &pi_staged[j], err))
            goto done;
        pi_recorded[j] = false;
    }
    for (int i = 0; i < v->f.nix; i++) {
        const char *parked = arena_printf(a, "pm%s_old_ix%d", v->row.id, i);
        if (v->f.ix_policy[i]) {
            /* the policy's index replaces it on the new table, under the
             * policy's name, which may be this one's (PostgreSQL's default
             * name): the old index steps aside, and comes back on rollback */
            int j = v->f.ix_policy_index[i];
            const char *staged = NULL;
            if (j >= 0 && pi_staged[j] && !strcmp(pi_names[j], v->f.ix_names[i])) {
                staged = conv_policy_index_staged(v, j);
                pi_recorded[j] = true;
            }
            buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", quote_qualified_str(a, schema, v->f.ix_names[i]),
                       quote_ident_str(a, parked));
            if (!conv_record_names(v, v->f.ix_names[i], parked, staged, err))
                goto done;
            continue;
        }
        const char *staged = arena_printf(a, "pm%s_ix%d", v->row.id, i);
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", quote_qualified_str(a, schema, v->f.ix_names[i]),
                   quote_ident_str(a, parked));
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", quote_qualified_str(a, schema, staged),
                   quote_ident_str(a, v->f.ix_names[i]));
        if (!conv_record_names(v, v->f.ix_names[i], parked, staged, err))
            goto done;
    }
    for (int j = 0; j < npi; j++) {
        if (!pi_staged[j])
            continue;
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", quote_qualified_str(a, schema, conv_policy_index_staged(v, j)),
                   quote_ident_str(a, pi_names[j]));
        /* no old index had the name: nothing parked ("") to give it back to */
        if (!pi_recorded[j] && !conv_record_names(v, pi_names[j], "", conv_policy_index_staged(v, j), err))
            goto done;
    }
    /* identity columns: the new sequence continues after the old one (the
     * old table is locked, so no insert takes a value meanwhile) and takes
     * its name; the old one steps aside like the indexes */
    for (int i = 0; i < v->f.nident; i++) {
        IdentSeq old_seq, new_seq;
        if (!conv_identity_continue(v, v->q_table, v->q_shadow, v->f.ident_cols[i], &old_seq, &new_seq, err))
            goto done;
        if (strcmp(old_seq.schema, schema) || strcmp(new_seq.schema, schema))
            continue; /* conv_names_back renames within the table's schema only */
        const char *parked = arena_printf(a, "pm%s_old_seq%d", v->row.id, i);
        buf_printf(&b, "ALTER SEQUENCE %s RENAME TO %s;\n", old_seq.qname, quote_ident_str(a, parked));
        buf_printf(&b, "ALTER SEQUENCE %s RENAME TO %s;\n", new_seq.qname, quote_ident_str(a, old_seq.name));
        if (!conv_record_names(v, old_seq.name, parked, new_seq.name, err))
            goto done;
    }
    if (!conv_sequences_move(v, v->row.old_oid, v->q_table, &b, err) ||
        !conv_grants_copy(v, v->row.old_oid, v->q_table, &b, err) ||
        !conv_row_security_copy(v, v->row.old_oid, v->q_table, &b, err))
        goto done;
    buf_append(&b, buf_str(&views));
    /* the undo log's trigger is in place already (install_reverse): from
     * the commit on, it logs what the old table, the rollback point, lacks */
    buf_printf(&b,
               "CREATE TRIGGER partmig_no_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s;\n"
               "ALTER TABLE ONLY %s ENABLE ALWAYS TRIGGER partmig_no_truncate;\n",
               v->q_table, v->q_guard_call, v->q_table);
    if (!conv_script(c, &b, err))
        goto done;
    /* the undo log's horizon: this snapshot and this transaction's id; a
     * row written to the new table from the commit on has an xmin the
     * snapshot does not see, and not this one's (conversion_install_undo_log) */
    const char *hp[] = {v->row.id, v->q_undo};
    if (!pg_exec(c,
                 "UPDATE partmig.conversions SET undo_horizon = pg_catalog.txid_snapshot_xmin(s.s),"
                 " undo_snapshot = s.s::text, undo_swap_xid = pg_catalog.txid_current()"
                 " FROM (SELECT pg_catalog.txid_current_snapshot() AS s) s"
                 " WHERE id = $1::bigint AND pg_catalog.to_regclass($2) IS NOT NULL",
                 2, hp, NULL, err) ||
        !conv_record_swapped(v, t0, err))
        goto done;
    ok = true;
done:
    pg_result_free(r);
    buf_free(&b);
    buf_free(&views);
    return ok;
}

bool conv_run_copy(Conv *v, Err *err)
{
    if (!names_safe(v, err))
        return false;
    if (conv_state_is(v, "preflight") && !create_shadow(v, err))
        return false;
    if (conv_state_is(v, "shadow_created") && !conv_install_capture(v, err))
        return false;
    if (conv_state_is(v, "mirroring") && !plan_jobs(v, err))
        return false;
    if (conv_state_is(v, "backfilling")) {
        int64_t rows = 0;
        /* quiet: the undo log's triggers are made with the indexes */
        if (!conv_backfill(v, err) || !conv_build_indexes(v, err) || !set_quiet(v, true, err) ||
            !conv_resync_catch_up(v, err) || !conv_verify_counts(v, v->q_table, v->q_shadow, v->q_log, &rows, err))
            return false;
        const char *params[] = {v->row.id, arena_printf(v->a, "%lld", (long long)rows)};
        if (!pg_exec(v->c, "UPDATE partmig.conversions SET rows_verified = $2::bigint WHERE id = $1::bigint", 2, params,
                     NULL, err) ||
            !conv_set_state(v, "verified", err))
            return false;
        fprintf(stderr, "partmig: %s: verified %lld rows, partition by partition, in one snapshot\n", v->qname,
                (long long)rows);
    }
    if ((conv_state_is(v, "verified") || conv_state_is(v, "backfilling")) && !conv_report_default_rows(v, err))
        return false;
    if (conv_state_is(v, "verified")) {
        if (!install_reverse(v, err) || !set_quiet(v, true, err))
            return false;
        bool swapped = conv_resync_catch_up(v, err) && conv_locked(v, "swapping the tables", swap_body, err);
        Err ignored;
        if (!set_quiet(v, false, swapped ? err : &ignored) || !swapped)
            return false;
        fprintf(stderr, "partmig: %s: swapped; the old table is kept as %s until `partmig finalize %s`\n", v->qname,
                v->q_kept, v->qname);
    }
    if (conv_state_is(v, "swapped") && !conv_drop_capture(v, err))
        return false;
    return true;
}
