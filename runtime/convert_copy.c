/* convert_copy.c: the copy method -- the new partitioned table beside the
 * old one, change capture, the batched backfill, indexes, the re-copy of
 * changed keys, and the short swap with its reverse mirror. */
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

/* index scripts per job connection: partitions dealt round among them */
#define INDEX_SCRIPTS_PER_JOB 4
/* rows per partition (on average) from which each partition's statistics
 * are gathered on the job connections (see parent_statistics) */
#define SPLIT_ANALYZE_ROWS 10000
/* tries of a script that met a deadlock (with autovacuum) */
#define DEADLOCK_TRIES 5

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
               v->q_shadow, v->q_table, by, sql_ident(a, p->column));
    /* INCLUDING IDENTITY: identity columns stay identity columns of the same
     * kind, with a new sequence of the same options on the parent (the
     * partitions have none: inserts go through the parent); the swap sets it
     * to continue after the old one */
    /* the primary key is built after the conv_backfill (build_primary_key) */
    for (int i = 0; i < n; i++)
        partition_create_sql(&b, p, v->row.shadow, &specs[i]);
    for (int i = 0; i < v->f.nfk; i++)
        buf_printf(&b, "ALTER TABLE %s ADD CONSTRAINT %s %s;\n", v->q_shadow, sql_ident(a, v->f.fk_names[i]),
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

/* The shadow's primary key, built once the conv_backfill is done: one sorted
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
    if (v->f.nnew_pk == 0)
        return true; /* keyed by a unique index, which build_indexes carries over */
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
                                   sql_ident(v->a, conv_name63(v->a, v->row.shadow, "_pkey")),
                                   sql_column_list(v->a, v->f.new_pk, v->f.nnew_pk, ""));
    if (!pg_run(v->c, sql, err))
        return false;
    fprintf(stderr, "partmig: %s: built the primary key of %s in %.0f ms\n", v->qname, v->q_shadow,
            (progress_now() - t0) * 1000.0);
    return true;
}

/* The policy's index J on the shadow until the swap names it: the
 * swap renames it to the policy's name, so the policy's build_index step
 * finds it built, valid and attached. */
static const char *policy_index_staged(const Conv *v, int j)
{
    return arena_printf(v->a, "pm%s_pix%d", v->row.id, j);
}

/* "USING btree ("a", "b")" for the policy's index IX, as its steps write it. */
static const char *policy_index_using(Arena *a, const IndexSpec *ix)
{
    Buf b = {0};
    buf_printf(&b, "USING %s (", ix->method ? ix->method : "btree");
    for (int i = 0; i < ix->columns.n; i++) {
        if (i)
            buf_append(&b, ", ");
        quote_ident(&b, ix->columns.items[i]);
    }
    buf_putc(&b, ')');
    const char *s = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return s;
}

/* The old table's secondary indexes on the shadow, built on the parent
 * (the fallback for a shadow with sub-partitions).  Nothing but partmig
 * writes to the shadow, so a plain CREATE INDEX blocks no application. */
static bool build_indexes_whole(Conv *v, Err *err)
{
    if (!build_primary_key(v, err))
        return false;
    Buf b = {0};
    for (int i = 0; i < v->f.nix; i++) {
        if (v->f.ix_policy[i])
            continue; /* built below as the policy's index */
        const char *tmp = arena_printf(v->a, "pm%s_ix%d", v->row.id, i);
        buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS %s ON %s %s;\n", v->f.ix_unique[i] ? "UNIQUE " : "",
                   sql_ident(v->a, tmp), v->q_shadow, v->f.ix_using[i]);
    }
    for (int j = 0; j < v->p->nindexes; j++)
        buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS %s ON %s %s;\n", v->p->indexes[j].unique ? "UNIQUE " : "",
                   sql_ident(v->a, policy_index_staged(v, j)), v->q_shadow,
                   policy_index_using(v->a, &v->p->indexes[j]));
    buf_printf(&b, "ANALYZE %s;\n", v->q_shadow);
    bool ok = conv_script(v->c, &b, err);
    buf_free(&b);
    return ok;
}

/* One index of the shadow: its parent index (made ON ONLY, catalog only)
 * and the index each partition gets, attached to it. */
typedef struct ShadowIndex {
    const char *parent;    /* name of the parent index (or primary key constraint) */
    bool pk;               /* the primary key: a constraint per partition */
    bool unique;           /* else: a unique index */
    const char *using;     /* its "USING method (columns)" */
    const char *suffix;    /* partitions' index names: "<partition><suffix>" */
    const char **child;    /* per partition: the index's name */
    bool *have, *attached; /* per partition: it exists there, it is attached */
} ShadowIndex;

/* '"a","b"' as a text[] literal of NAMES. */
static void names_array(Buf *b, const char *const *names, int n)
{
    buf_putc(b, '{');
    for (int i = 0; i < n; i++) {
        buf_append(b, i ? ",\"" : "\"");
        for (const char *s = names[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                buf_putc(b, '\\');
            buf_putc(b, *s);
        }
        buf_putc(b, '"');
    }
    buf_putc(b, '}');
}

/* Run the statements of B as one transaction, again when the server
 * chose it to break a deadlock: autovacuum, vacuuming a freshly filled
 * partition, holds it and waits for its indexes, which this transaction
 * may hold (an index just attached); the server rolled it all back. */
static bool script_retried(PgConn *c, const Buf *b, Err *err)
{
    for (int tries = 1;; tries++) {
        if (conv_script(c, b, err))
            return true;
        if (strcmp(pg_last_sqlstate(c), "40P01") != 0 || tries >= DEADLOCK_TRIES)
            return false;
        err_clear(err);
    }
}

/* The parent's own statistics (inherited, across its partitions: what
 * the planner uses for joins and grouping over the partitioned table; the
 * partitions' own serve their scans; autovacuum never gathers a
 * partitioned table's).  PostgreSQL 15's ANALYZE of a partitioned table
 * gathers every partition's too (it has no ANALYZE ONLY): here the
 * partitions' at default_statistics_target 1 (a 300-row sample each,
 * cheap), the parent's at the session's target (set on its columns for
 * this transaction only).  Each partition's own statistics are gathered
 * after this, on the job connections, replacing those. */
static bool parent_statistics(Conv *v, Err *err)
{
    Arena *a = v->a;
    PgResult *r = NULL;
    const char *params[] = {v->q_shadow};
    if (!pg_exec(v->c,
                 "SELECT attname, pg_catalog.current_setting('default_statistics_target') FROM"
                 " pg_catalog.pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND"
                 " coalesce(attstattarget, -1) < 0 ORDER BY attnum",
                 1, params, &r, err))
        return false;
    Buf set = {0}, reset = {0}, b = {0};
    for (int i = 0; i < pg_nrows(r); i++) {
        const char *col = sql_ident(a, pg_get(r, i, 0));
        buf_printf(&set, "%sALTER COLUMN %s SET STATISTICS %d", i ? ", " : "", col, atoi(pg_get(r, i, 1)));
        buf_printf(&reset, "%sALTER COLUMN %s SET STATISTICS -1", i ? ", " : "", col);
    }
    buf_append(&b, "SET LOCAL default_statistics_target = 1;\n");
    if (set.len > 0)
        buf_printf(&b, "ALTER TABLE ONLY %s %s;\n", v->q_shadow, buf_str(&set));
    buf_printf(&b, "ANALYZE %s;\n", v->q_shadow);
    if (reset.len > 0)
        buf_printf(&b, "ALTER TABLE ONLY %s %s;\n", v->q_shadow, buf_str(&reset));
    pg_result_free(r);
    bool ok = script_retried(v->c, &b, err);
    buf_free(&set);
    buf_free(&reset);
    buf_free(&b);
    return ok;
}

/* Every index of the shadow, built partition by partition over the job
 * connections once the backfill is done: per partition (a few partitions
 * per round trip and transaction), its primary key constraint, its copies of the old
 * table's secondary indexes (plain CREATE INDEX: nothing but partmig writes
 * to the shadow); then on the parent the primary key and the indexes ON
 * ONLY (catalog only), each partition's attached; and the statistics
 * (per partition over the jobs, or one ANALYZE: see below).  One sorted
 * build per partition costs far less than maintaining the indexes row by
 * row while copying.  The re-copy of changed keys (which deletes and
 * inserts by key) runs after this, with the indexes.  Each step checks
 * what an earlier, interrupted partmig left, so a killed apply resumes. */
static bool build_indexes(Conv *v, Err *err)
{
    Arena *a = v->a;
    PgResult *r = NULL;
    Buf b = {0};
    bool ok = false;
    const char *params[2] = {v->q_shadow, NULL};
    if (!pg_exec(v->c,
                 "SELECT c.relname, c.relkind, n.nspname FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON "
                 "c.oid = i.inhrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE i.inhparent = "
                 "$1::regclass ORDER BY pg_catalog.pg_relation_size(c.oid) DESC, c.relname",
                 1, params, &r, err))
        goto done;
    int np = pg_nrows(r);
    const char **parts = arena_alloc(a, sizeof *parts * (size_t)(np + 1));
    const char **q_parts = arena_alloc(a, sizeof *q_parts * (size_t)(np + 1));
    const char **schemas = arena_alloc(a, sizeof *schemas * (size_t)(np + 1));
    for (int i = 0; i < np; i++) {
        if (pg_get(r, i, 1)[0] != 'r') {
            pg_result_free(r);
            return build_indexes_whole(v, err); /* sub-partitioned: PostgreSQL recurses */
        }
        parts[i] = arena_strdup(a, pg_get(r, i, 0));
        schemas[i] = arena_strdup(a, pg_get(r, i, 2));
        q_parts[i] = sql_qualified(a, schemas[i], parts[i]);
    }
    pg_result_free(r);
    r = NULL;

    /* the indexes: the primary key, then the old table's secondary ones */
    /* the indexes: the primary key, the old table's secondary ones, the
     * policy's (partitions' index names as PostgreSQL gives them:
     * "<partition>_pkey", "<partition>_<the index's name without its table
     * prefix>") */
    ShadowIndex *ix = arena_alloc(a, sizeof *ix * (size_t)(v->f.nix + v->p->nindexes + 2));
    int nix = 0;
    if (v->f.nnew_pk > 0) {
        ix[nix] = (ShadowIndex){.parent = conv_name63(a, v->row.shadow, "_pkey"), .pk = true, .suffix = "_pkey"};
        nix++;
    }
    size_t tl = strlen(v->p->table);
    for (int i = 0; i < v->f.nix; i++) {
        if (v->f.ix_policy[i])
            continue; /* built below as the policy's index */
        const char *old = v->f.ix_names[i];
        ix[nix] = (ShadowIndex){
            .parent = arena_printf(a, "pm%s_ix%d", v->row.id, i),
            .unique = v->f.ix_unique[i],
            .using = v->f.ix_using[i],
            .suffix = !strncmp(old, v->p->table, tl) && old[tl] == '_' ? old + tl : arena_printf(a, "_%s", old)};
        nix++;
    }
    for (int j = 0; j < v->p->nindexes; j++) {
        const IndexSpec *pi = &v->p->indexes[j];
        const char *name = policy_index_name(pi, v->p, a);
        ix[nix] = (ShadowIndex){
            .parent = policy_index_staged(v, j),
            .unique = pi->unique,
            .using = policy_index_using(a, pi),
            .suffix = !strncmp(name, v->p->table, tl) && name[tl] == '_' ? name + tl : arena_printf(a, "_%s", name)};
        nix++;
    }
    int nnames = nix * np;
    const char **names = arena_alloc(a, sizeof *names * (size_t)(nnames + 1));
    for (int k = 0; k < nix; k++) {
        ix[k].child = arena_alloc(a, sizeof *ix[k].child * (size_t)(np + 1));
        ix[k].have = arena_alloc(a, sizeof(bool) * (size_t)(np + 1));
        ix[k].attached = arena_alloc(a, sizeof(bool) * (size_t)(np + 1));
        for (int i = 0; i < np; i++) {
            ix[k].child[i] = conv_name63(a, parts[i], ix[k].suffix);
            ix[k].have[i] = ix[k].attached[i] = false;
            names[k * np + i] = ix[k].child[i];
        }
    }
    /* what exists: each name's relation, its table and the index it is
     * attached to; a name some other relation holds gets a hashed one */
    names_array(&b, names, nnames);
    params[1] = buf_str(&b);
    if (!pg_exec(v->c,
                 "SELECT c.relname, coalesce(t.relname, ''), coalesce(pi.relname, ''), t.oid IS NOT NULL AND "
                 "t.relnamespace = c.relnamespace FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_index x ON "
                 "x.indexrelid = c.oid LEFT JOIN pg_catalog.pg_class t ON t.oid = x.indrelid LEFT JOIN "
                 "pg_catalog.pg_inherits ih ON ih.inhrelid = c.oid LEFT JOIN pg_catalog.pg_class pi ON pi.oid = "
                 "ih.inhparent WHERE c.relnamespace = (SELECT relnamespace FROM pg_catalog.pg_class WHERE oid = "
                 "$1::regclass) AND c.relname = ANY ($2::text[])",
                 2, params, &r, err))
        goto done;
    buf_reset(&b);
    for (int row = 0; row < pg_nrows(r); row++) {
        const char *name = pg_get(r, row, 0);
        for (int k = 0; k < nix; k++)
            for (int i = 0; i < np; i++) {
                if (strcmp(ix[k].child[i], name) != 0)
                    continue;
                if (!strcmp(pg_get(r, row, 1), parts[i]) &&
                    (!*pg_get(r, row, 2) || !strcmp(pg_get(r, row, 2), ix[k].parent))) {
                    ix[k].have[i] = true;
                    ix[k].attached[i] = *pg_get(r, row, 2) != '\0';
                } else
                    ix[k].child[i] = conv_name63(a, parts[i], arena_printf(a, "_pm%s_%d", v->row.id, k));
            }
    }
    pg_result_free(r);
    r = NULL;

    /* per partition: what it lacks; partitions dealt round (largest first)
     * into a few scripts per job, each one round trip and one transaction
     * (fewer commits and index file syncs to wait for than one per
     * partition; a killed apply redoes at most the scripts in flight) */
    double t0 = progress_now();
    int jobs = v->o->jobs > 0 ? v->o->jobs : (v->p->existing.jobs > 0 ? v->p->existing.jobs : 1);
    int nchunks = jobs * INDEX_SCRIPTS_PER_JOB < np ? jobs * INDEX_SCRIPTS_PER_JOB : np;
    const char **scripts = arena_alloc(a, sizeof *scripts * (size_t)(nchunks + 1));
    int nscripts = 0;
    const char *pk_cols = sql_column_list(a, v->f.new_pk, v->f.nnew_pk, "");
    /* statistics: with partitions of some size and more than one job, the
     * parent's first (cheap for the partitions), then each partition's in
     * its script after its indexes, over the job connections.  Many small
     * partitions: one ANALYZE of the parent after the indexes, which
     * gathers the partitions' and the parent's in one pass (per-partition
     * work dominates there, and the parent's pass would do it twice) */
    bool split = jobs > 1 && np > 1 && v->f.est_rows / np >= SPLIT_ANALYZE_ROWS;
    if (split && !parent_statistics(v, err))
        goto done;
    for (int c = 0; c < nchunks; c++) {
        buf_reset(&b);
        for (int i = c; i < np; i += nchunks) {
            for (int k = 0; k < nix; k++) {
                if (ix[k].have[i])
                    continue; /* built by an earlier partmig */
                if (ix[k].pk)
                    buf_printf(&b, "ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (%s);\n", q_parts[i],
                               sql_ident(a, ix[k].child[i]), pk_cols);
                else
                    buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS %s ON %s %s;\n", ix[k].unique ? "UNIQUE " : "",
                               sql_ident(a, ix[k].child[i]), q_parts[i], ix[k].using);
            }
            /* after the indexes: an expression index's statistics too */
            if (split)
                buf_printf(&b, "ANALYZE %s;\n", q_parts[i]);
        }
        if (b.len > 0)
            scripts[nscripts++] = arena_strdup(a, buf_str(&b));
    }
    if (!copier_scripts(v->o->db_url, scripts, nscripts, jobs, err))
        goto done;

    /* the parent: its indexes ON ONLY, each partition's attached */
    buf_reset(&b);
    bool pk_present = false;
    if (v->f.nnew_pk > 0) {
        params[1] = NULL;
        if (!pg_exec(v->c, "SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'", 1,
                     params, &r, err))
            goto done;
        pk_present = pg_nrows(r) > 0;
        pg_result_free(r);
        r = NULL;
    }
    for (int k = 0; k < nix; k++) {
        if (ix[k].pk && !pk_present)
            buf_printf(&b, "ALTER TABLE ONLY %s ADD CONSTRAINT %s PRIMARY KEY (%s);\n", v->q_shadow,
                       sql_ident(a, ix[k].parent), pk_cols);
        else if (!ix[k].pk)
            buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS %s ON ONLY %s %s;\n", ix[k].unique ? "UNIQUE " : "",
                       sql_ident(a, ix[k].parent), v->q_shadow, ix[k].using);
        for (int i = 0; i < np; i++)
            if (!ix[k].attached[i])
                buf_printf(&b, "ALTER INDEX %s ATTACH PARTITION %s;\n", sql_qualified(a, v->p->schema, ix[k].parent),
                           sql_qualified(a, schemas[i], ix[k].child[i]));
    }
    if (!script_retried(v->c, &b, err))
        goto done;
    buf_reset(&b);
    if (!split) {
        buf_printf(&b, "ANALYZE %s;\n", v->q_shadow);
        if (!script_retried(v->c, &b, err))
            goto done;
    }
    fprintf(
        stderr, "partmig: %s: built %d indexes of %s on %d partitions (%d job(s)) and its statistics (%s) in %.0f ms\n",
        v->qname, nix, v->q_shadow, np, jobs < nscripts ? jobs : nscripts,
        split ? "the parent's, then each partition's on the jobs" : "in one ANALYZE", (progress_now() - t0) * 1000.0);
    ok = true;
done:
    pg_result_free(r);
    buf_free(&b);
    return ok;
}

bool conv_record_names(Conv *v, const char *original, const char *parked, const char *staged, Err *err)
{
    const char *params[] = {v->row.id, original, parked, staged};
    return pg_exec(v->c,
                   "INSERT INTO partmig.conversion_names (conversion, original, parked, staged)"
                   " VALUES ($1::bigint, $2, $3, $4) ON CONFLICT DO NOTHING",
                   4, params, NULL, err);
}

/* The custom setting that keeps partmig_reverse quiet in partmig's own
 * session before the swap (its re-copies into the new table). */
static const char *quiet_setting(Conv *v)
{
    return arena_printf(v->a, "partmig.conv_%s_quiet", v->row.id);
}

static bool set_quiet(Conv *v, bool on, Err *err)
{
    const char *params[] = {quiet_setting(v), on ? "on" : ""};
    return pg_exec(v->c, "SELECT pg_catalog.set_config($1, $2, false)", 2, params, NULL, err);
}

/* The reverse mirror, made on the new table before the swap so that the
 * swap's lock window does not grow with the partition count (CREATE
 * TRIGGER on a partitioned table makes one per partition): after the swap
 * every row written to the new table is written to the old one too, which
 * stays the rollback point.  Before the swap it must not fire: only
 * partmig writes to the new table then (the old table's name is not yet
 * free for the function to write to), in a session that sets
 * quiet_setting, which the trigger's WHEN tests.  Made after the copy and
 * the indexes, so that the bulk of the rows never evaluates it.  A trigger
 * made by an earlier run is kept. */
static bool install_reverse(Conv *v, Err *err)
{
    Arena *a = v->a;
    bool present = false;
    const char *params[] = {v->q_shadow};
    if (!pg_query_bool(v->c,
                       "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = $1::regclass AND tgname ="
                       " 'partmig_reverse' AND tgparentid = 0)",
                       1, params, &present, err))
        return false;
    if (present)
        return true;
    const char *shadow_oid = NULL;
    if (!pg_query_text(v->c, "SELECT pg_catalog.to_regclass($1)::pg_catalog.oid::text", 1, params, a, &shadow_oid, err))
        return false;
    const TableFacts *f = &v->f;
    const char *kl = sql_column_list(a, f->key, f->nkey, "");
    const char *oldk = sql_column_list(a, f->key, f->nkey, "OLD.");
    const char *cols = sql_column_list(a, f->cols, f->ncols, "");
    const char *newc = sql_column_list(a, f->cols, f->ncols, "NEW.");
    Buf b = {0};
    buf_printf(&b,
               "CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER"
               " SET search_path = pg_catalog, pg_temp AS $pm$\nBEGIN\n%s"
               "  IF TG_OP <> 'INSERT' THEN DELETE FROM %s WHERE (%s) = (%s); END IF;\n"
               "  IF TG_OP <> 'DELETE' THEN INSERT INTO %s (%s)%s VALUES (%s); END IF;\n"
               "  RETURN NULL;\nEND\n$pm$;\n",
               v->q_reverse, conv_trigger_guard(a, shadow_oid), v->q_kept, kl, oldk, v->q_kept, cols,
               conv_overriding(v), newc);
    conv_revoke_public(&b, v->q_reverse, "");
    Buf q = {0};
    quote_literal(&q, quiet_setting(v));
    buf_printf(&b,
               "CREATE TRIGGER partmig_reverse AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW WHEN"
               " (pg_catalog.current_setting(%s, true) IS DISTINCT FROM 'on') EXECUTE FUNCTION %s();\n",
               v->q_shadow, buf_str(&q), v->q_reverse);
    buf_free(&q);
    double t0 = progress_now();
    bool ok = pg_run(v->c, "BEGIN", err) && conv_script(v->c, &b, err) && pg_run(v->c, "COMMIT", err);
    buf_free(&b);
    if (!ok) {
        conv_rollback_quietly(v->c);
        return false;
    }
    fprintf(stderr, "partmig: %s: made the reverse mirror on %s (it acts from the swap on) in %.0f ms\n", v->qname,
            v->q_shadow, (progress_now() - t0) * 1000.0);
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
    buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_table, sql_ident(a, v->row.kept));
    buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_shadow, sql_ident(a, v->p->table));
    /* indexes: the old ones step aside, the new ones take their names */
    if (v->f.pkey_index) {
        const char *parked = arena_printf(a, "pm%s_old_pkey", v->row.id);
        const char *staged = conv_name63(a, v->row.shadow, "_pkey");
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", sql_qualified(a, schema, v->f.pkey_index),
                   sql_ident(a, parked));
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", sql_qualified(a, schema, staged),
                   sql_ident(a, v->f.pkey_index));
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
        const char *sp[] = {schema, policy_index_staged(v, j), v->q_shadow};
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
                staged = policy_index_staged(v, j);
                pi_recorded[j] = true;
            }
            buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", sql_qualified(a, schema, v->f.ix_names[i]),
                       sql_ident(a, parked));
            if (!conv_record_names(v, v->f.ix_names[i], parked, staged, err))
                goto done;
            continue;
        }
        const char *staged = arena_printf(a, "pm%s_ix%d", v->row.id, i);
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", sql_qualified(a, schema, v->f.ix_names[i]),
                   sql_ident(a, parked));
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", sql_qualified(a, schema, staged),
                   sql_ident(a, v->f.ix_names[i]));
        if (!conv_record_names(v, v->f.ix_names[i], parked, staged, err))
            goto done;
    }
    for (int j = 0; j < npi; j++) {
        if (!pi_staged[j])
            continue;
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", sql_qualified(a, schema, policy_index_staged(v, j)),
                   sql_ident(a, pi_names[j]));
        /* no old index had the name: nothing parked ("") to give it back to */
        if (!pi_recorded[j] && !conv_record_names(v, pi_names[j], "", policy_index_staged(v, j), err))
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
        buf_printf(&b, "ALTER SEQUENCE %s RENAME TO %s;\n", old_seq.qname, sql_ident(a, parked));
        buf_printf(&b, "ALTER SEQUENCE %s RENAME TO %s;\n", new_seq.qname, sql_ident(a, old_seq.name));
        if (!conv_record_names(v, old_seq.name, parked, new_seq.name, err))
            goto done;
    }
    if (!conv_sequences_move(v, v->row.old_oid, v->q_table, &b, err) ||
        !conv_grants_copy(v, v->row.old_oid, v->q_table, &b, err) ||
        !conv_row_security_copy(v, v->row.old_oid, v->q_table, &b, err))
        goto done;
    buf_append(&b, buf_str(&views));
    /* the reverse mirror is in place already (install_reverse): from the
     * commit on, it keeps the old table the rollback point, up to date */
    buf_printf(&b, "CREATE TRIGGER partmig_no_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s;\n",
               v->q_table, v->q_guard_call);
    if (!conv_script(c, &b, err))
        goto done;
    if (!conv_record_swapped(v, t0, err))
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
        if (!conv_backfill(v, err) || !build_indexes(v, err) || !conv_resync_catch_up(v, err) ||
            !conv_verify_counts(v, v->q_table, v->q_shadow, v->q_log, &rows, err))
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
