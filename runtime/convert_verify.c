/* convert_verify.c: exact per-partition counts (and row fingerprints) of
 * the original table and the partitioned one, in one snapshot and one scan
 * of each table whatever the number of partitions.  The new table is read
 * a few partitions per statement, each statement in a savepoint rolled back
 * once its result is read: that releases the statement's locks (partitions
 * and their indexes) while the transaction, and so its snapshot, goes on, so
 * thousands of partitions fit in max_locks_per_transaction.  With two
 * connections (--jobs 2 or more) a second one takes the first one's
 * exported snapshot and both take statements in turn: the original table
 * in chunks of its blocks (their groups added up at the end), then the
 * leaves of the new one. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/quote.h"
#include "../model/partitions.h"
#include "convert_internal.h"
#include "progress.h"
#include "runner.h"

bool conv_verify_counts(Conv *v, const char *src, const char *dst, const char *log, int64_t *rows, Err *err)
{
    return conv_verify_rows(v, src, dst, log, false, rows, err);
}

static int by_name(const void *x, const void *y)
{
    return strcmp((*(const TreeNode *const *)x)->name, (*(const TreeNode *const *)y)->name);
}

typedef struct Tally {
    int64_t count;
    const char *sum;
} Tally;

static int by_ulong(const void *x, const void *y)
{
    unsigned long a = *(const unsigned long *)x, b = *(const unsigned long *)y;
    return a < b ? -1 : a > b;
}

/* The leaves' oids, sorted, as "o1,o2,...". */
static const char *oid_list(Arena *a, const TreeNode **leaves, int n)
{
    unsigned long *oids = arena_alloc(a, sizeof *oids * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++)
        oids[i] = strtoul(leaves[i]->oid, NULL, 10);
    qsort(oids, (size_t)n, sizeof *oids, by_ulong);
    Buf b = {0};
    for (int i = 0; i < n; i++)
        buf_printf(&b, "%s%lu", i ? "," : "", oids[i]);
    const char *s = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return s;
}

/* The work of a verification as statements any of its connections may
 * run: the original table's rows in chunks of its blocks (their groups
 * added up at the end), then the new table's leaves, a few a statement. */
typedef struct Work {
    const char *src_sql;   /* the source query; with NPARAMS 2, its ctid range */
    const char **lo, **hi; /* each chunk's ctid range: lo <= ctid < hi */
    int nchunks, nparams;
    const char **leaf_sql; /* the leaves' statements */
    int *first, *end;      /* each one's leaves: [first, end) */
    int nbatches;
    Tally *td;        /* the leaves' tallies (each written by one statement) */
    atomic_int next;  /* the next task: chunks, then leaf statements */
    atomic_bool stop; /* a task failed */
} Work;

/* One connection working through the tasks. */
typedef struct Worker {
    Work *w;
    PgConn *c;
    Arena a;          /* the tallies' sums */
    Buf b1, b2, n, s; /* the source chunks' groups, comma-separated */
    Err err;
    bool ok;
} Worker;

/* The statements counting (and fingerprinting) the rows of each leaf of
 * DST, a few leaves a statement: as many as take at most BUDGET
 * (max_locks_per_transaction) locks, a leaf and its indexes.  Each runs in
 * a savepoint rolled back after its result is read, which releases its
 * locks but keeps the transaction's snapshot. */
static void leaf_batches(Arena *a, Work *w, const char *rowx, const TreeNode **leaves, int nleaf, int hk,
                         const char *excl, int budget)
{
    const char *hash = conv_row_hash(a, hk, rowx);
    w->leaf_sql = arena_alloc(a, sizeof *w->leaf_sql * (size_t)(nleaf + 1));
    w->first = arena_alloc(a, sizeof *w->first * (size_t)(nleaf + 1));
    w->end = arena_alloc(a, sizeof *w->end * (size_t)(nleaf + 1));
    w->nbatches = 0;
    Buf q = {0};
    for (int i = 0; i < nleaf;) {
        int first = i, locks = 0;
        buf_reset(&q);
        for (; i < nleaf && (i == first || locks + 1 + leaves[i]->nidx <= budget); i++) {
            locks += 1 + leaves[i]->nidx;
            buf_printf(&q, "%sSELECT %d, count(*), coalesce(sum(%s), 0)::text FROM ONLY %s o%s",
                       i > first ? " UNION ALL " : "", i, hash, leaves[i]->name, excl);
        }
        w->leaf_sql[w->nbatches] = arena_strdup(a, buf_str(&q));
        w->first[w->nbatches] = first;
        w->end[w->nbatches++] = i;
    }
    buf_free(&q);
}

static void list_add(Buf *b, const PgResult *r, int row, int col)
{
    buf_printf(b, "%s%s", b->len ? "," : "", pg_isnull(r, row, col) ? "NULL" : pg_get(r, row, col));
}

static bool run_task(Worker *k, int t)
{
    Work *w = k->w;
    PgResult *r = NULL;
    if (t < w->nchunks) {
        const char *params[] = {w->lo[t], w->hi[t]};
        if (!pg_exec(k->c, w->src_sql, w->nparams, params, &r, &k->err))
            return false;
        for (int j = 0; j < pg_nrows(r); j++) {
            list_add(&k->b1, r, j, 0);
            list_add(&k->b2, r, j, 1);
            list_add(&k->n, r, j, 2);
            list_add(&k->s, r, j, 3);
        }
        pg_result_free(r);
        return true;
    }
    t -= w->nchunks;
    bool ok = pg_run(k->c, "SAVEPOINT partmig_leaves", &k->err) &&
              pg_exec(k->c, w->leaf_sql[t], 0, NULL, &r, &k->err) &&
              pg_run(k->c, "ROLLBACK TO SAVEPOINT partmig_leaves", &k->err);
    for (int j = 0; ok && j < pg_nrows(r); j++) {
        int leaf = (int)pg_get_int(r, j, 0);
        if (leaf >= w->first[t] && leaf < w->end[t])
            w->td[leaf] = (Tally){pg_get_int(r, j, 1), arena_strdup(&k->a, pg_get(r, j, 2))};
    }
    pg_result_free(r);
    return ok;
}

/* Take tasks until none is left or another connection failed. */
static void *worker_main(void *arg)
{
    Worker *k = arg;
    Work *w = k->w;
    k->ok = true;
    while (!atomic_load(&w->stop)) {
        int t = atomic_fetch_add(&w->next, 1);
        if (t >= w->nchunks + w->nbatches)
            break;
        if (!run_task(k, t)) {
            k->ok = false;
            atomic_store(&w->stop, true);
        }
    }
    return NULL;
}

/* The original table in chunks of about the same number of blocks, at
 * most CHUNKS of at least CHUNK_MIN_BLOCKS (PostgreSQL 14 and later scan a
 * ctid range by itself); one chunk, the whole table, otherwise. */
#define CHUNK_MIN_BLOCKS 256
#define SOURCE_CHUNKS    8
static bool source_chunks(Conv *v, const char *src, int chunks, Work *w, Err *err)
{
    w->nchunks = 1;
    w->nparams = 0;
    w->lo = arena_alloc(v->a, sizeof *w->lo * (size_t)chunks);
    w->hi = arena_alloc(v->a, sizeof *w->hi * (size_t)chunks);
    w->lo[0] = w->hi[0] = NULL;
    if (chunks < 2 || pg_server_version(v->c) < 140000)
        return true;
    PgResult *r = NULL;
    const char *params[] = {src};
    if (!pg_exec(v->c,
                 "SELECT pg_catalog.pg_relation_size($1::regclass) / "
                 "pg_catalog.current_setting('block_size')::bigint",
                 1, params, &r, err))
        return false;
    int64_t blocks = pg_get_int(r, 0, 0);
    pg_result_free(r);
    if (blocks / CHUNK_MIN_BLOCKS < chunks)
        chunks = (int)(blocks / CHUNK_MIN_BLOCKS);
    if (chunks < 2)
        return true;
    /* the last chunk has no upper block: rows in blocks added since the
     * size was read are counted too (no block has number 2^32 - 1) */
    for (int i = 0; i < chunks; i++) {
        w->lo[i] = arena_printf(v->a, "(%lld,0)", (long long)(blocks * i / chunks));
        w->hi[i] = i + 1 < chunks ? arena_printf(v->a, "(%lld,0)", (long long)(blocks * (i + 1) / chunks))
                                  : "(4294967295,65535)";
    }
    w->nchunks = chunks;
    w->nparams = 2;
    return true;
}

/* What the row's text depends on (the fingerprint of a type without a
 * hash function is the md5 of that text), and what the session setup
 * gives every connection: the second connection takes the first one's. */
static const char *const session_settings =
    "SELECT pg_catalog.array_agg(name)::text, pg_catalog.array_agg(pg_catalog.current_setting(name))::text"
    " FROM pg_catalog.pg_settings WHERE pg_catalog.lower(name) IN ('datestyle', 'intervalstyle', 'timezone',"
    " 'extra_float_digits', 'bytea_output', 'xmlbinary', 'xmloption', 'lc_monetary', 'lc_numeric',"
    " 'standard_conforming_strings', 'client_min_messages', 'client_connection_check_interval')";

/* A second connection for the new table's side when the jobs allow two
 * (--jobs, else the policy's existing.jobs), with the first one's session
 * settings; NULL, with a note, when none can be opened (the connection
 * limit, ...): the first connection then reads both sides. */
static PgConn *second_open(Conv *v)
{
    int jobs = v->o && v->o->jobs > 0 ? v->o->jobs : v->p && v->p->existing.jobs > 0 ? v->p->existing.jobs : 1;
    if (jobs < 2)
        return NULL;
    Err err;
    err_clear(&err);
    PgResult *r = NULL;
    PgConn *c = NULL;
    if (pg_exec(v->c, session_settings, 0, NULL, &r, &err) &&
        (c = copier_connect(v->o ? v->o->db_url : NULL, "partmig verify", &err))) {
        const char *params[] = {pg_get(r, 0, 0), pg_get(r, 0, 1)};
        if (!pg_exec(c,
                     "SELECT pg_catalog.set_config(n, s, false) FROM ROWS FROM (pg_catalog.unnest($1::text[]), "
                     "pg_catalog.unnest($2::text[])) x (n, s)",
                     2, params, NULL, &err)) {
            pg_close(c);
            c = NULL;
        }
    }
    pg_result_free(r);
    if (!c)
        log_msg(LOG_INFO, "%s: verifying on one connection: a second one could not be opened (%s)", v->qname, err.msg);
    return c;
}

/* The second connection's transaction in the first one's snapshot SNAP,
 * as the first one's; false, with a note, when it cannot join it. */
static bool second_begin(Conv *v, PgConn *c, const char *snap)
{
    Err err;
    err_clear(&err);
    if (pg_run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", &err) &&
        pg_run(c, arena_printf(v->a, "SET TRANSACTION SNAPSHOT %s", quote_literal_str(v->a, snap)), &err) &&
        pg_run(c, "SET LOCAL row_security = off", &err) && pg_run(c, "SET LOCAL jit = off", &err))
        return true;
    log_msg(LOG_INFO, "%s: verifying on one connection: the second one could not share the snapshot (%s)", v->qname,
            err.msg);
    return false;
}

bool conv_verify_rows(Conv *v, const char *src, const char *dst, const char *log, bool fingerprint, int64_t *rows,
                      Err *err)
{
    Arena *a = v->a;
    PgResult *rs = NULL, *rt = NULL;
    bool ok = false;
    const char *okl = sql_column_list(a, v->f.key, v->f.nkey, "o.");
    const char *lkl = sql_column_list(a, v->f.key, v->f.nkey, "l.");
    const char *cond = log ? arena_printf(a, "NOT EXISTS (SELECT 1 FROM %s l WHERE (%s) = (%s))", log, lkl, okl) : NULL;
    const char *excl = cond ? arena_printf(a, " WHERE %s", cond) : "";
    /* the row as its columns by name, on both sides: a leaf's row needs no
     * conversion to the parent's type, and a ROW of columns is hashed faster
     * than a whole-row value is formed and hashed (370 vs 500-650 ms a
     * million journal rows) */
    const char *rowx = arena_printf(a, "ROW(%s)", sql_column_list(a, v->f.cols, v->f.ncols, "o."));
    Buf q = {0}, bad = {0};
    TreeNode *nodes = NULL;
    int n = 0;
    /* wk[0] works on this connection, wk[1] on the second one, if any */
    Work w = {0};
    Worker wk[2] = {{0}, {0}};
    pthread_t thread;
    bool started = false;
    const char *snap = NULL;
    PgResult *r = NULL;
    wk[0].c = v->c;
    wk[1].c = second_open(v);
    /* row_security off: a role that policies filter gets an error instead of
     * comparing two filtered views of the tables; jit off: compiling the
     * bucket expressions costs more than it saves, and a statement being
     * compiled does not notice that its client has gone.  Reading the tree
     * locks every partition: in a savepoint, rolled back once read. */
    if (!pg_run(v->c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err) ||
        !pg_run(v->c, "SET LOCAL row_security = off", err) || !pg_run(v->c, "SET LOCAL jit = off", err))
        goto done;
    /* the snapshot is exported before any savepoint (never from one); the
     * second connection takes it at once, while this transaction lasts */
    if (wk[1].c && !pg_query_text(v->c, "SELECT pg_catalog.pg_export_snapshot()", 0, NULL, a, &snap, err))
        goto done;
    if (wk[1].c && !second_begin(v, wk[1].c, snap)) {
        pg_close(wk[1].c);
        wk[1].c = NULL;
    }
    if (!pg_run(v->c, "SAVEPOINT partmig_tree", err) || !conv_read_tree(v, dst, &nodes, &n, err) ||
        !pg_run(v->c, "ROLLBACK TO SAVEPOINT partmig_tree", err))
        goto done;
    if (n == 0) {
        err_set(err, PM_EDB, "verification failed for \"%s\": %s is not a partitioned table", v->qname, dst);
        err_hint(err, "nothing was swapped or dropped; run partmig status to see the conversion's state");
        goto done;
    }
    /* the root stays locked: no partition is attached or detached without
     * the check at the end seeing it */
    buf_printf(&q, "LOCK TABLE ONLY %s IN ACCESS SHARE MODE", dst);
    if (!pg_run(v->c, buf_str(&q), err))
        goto done;
    buf_reset(&q);
    int hk = !fingerprint ? HASH_NONE : pg_server_version(v->c) >= 140000 ? HASH_TYPED : HASH_TEXT;
    if (hk == HASH_TYPED) {
        /* a column type without a hash function (the server finds out at
         * the first row): the row's text instead, on both sides */
        buf_printf(&q, "SELECT %s FROM %s o LIMIT 1", conv_row_hash(a, hk, rowx), src);
        if (!pg_run(v->c, "SAVEPOINT partmig_hash", err))
            goto done;
        if (!pg_run(v->c, buf_str(&q), err)) {
            if (strcmp(pg_last_sqlstate(v->c), "42883") || !pg_run(v->c, "ROLLBACK TO SAVEPOINT partmig_hash", err))
                goto done;
            err_clear(err);
            hk = HASH_TEXT;
        } else if (!pg_run(v->c, "RELEASE SAVEPOINT partmig_hash", err))
            goto done;
        buf_reset(&q);
    }
    /* with two connections the original table is read in chunks, so that
     * both stay busy to the end */
    if (!source_chunks(v, src, wk[1].c ? SOURCE_CHUNKS : 1, &w, err))
        goto done;
    const char *filter = excl;
    if (w.nparams)
        filter =
            arena_printf(a, " WHERE o.ctid >= $1::tid AND o.ctid < $2::tid%s%s", cond ? " AND " : "", cond ? cond : "");
    if (!conv_bucket_query(v, nodes, n, src, filter, conv_row_hash(a, hk, rowx), &q, err))
        goto done;
    w.src_sql = buf_str(&q);

    /* the leaves, by name for the report */
    int nleaf = 0, max1 = 0, max2 = 0;
    const TreeNode **leaves = arena_alloc(a, sizeof *leaves * (size_t)n);
    for (int i = 0; i < n; i++)
        if (nodes[i].leaf) {
            leaves[nleaf++] = &nodes[i];
            if (nodes[i].b1 > max1)
                max1 = nodes[i].b1;
            if (nodes[i].b2 > max2)
                max2 = nodes[i].b2;
        }
    qsort(leaves, (size_t)nleaf, sizeof *leaves, by_name);
    Tally *ts = arena_alloc(a, sizeof *ts * (size_t)(nleaf + 1)),
          *td = arena_alloc(a, sizeof *td * (size_t)(nleaf + 1));
    for (int i = 0; i < nleaf; i++)
        ts[i] = td[i] = (Tally){0, "0"};
    if (!pg_exec(v->c, "SELECT pg_catalog.current_setting('max_locks_per_transaction')::int", 0, NULL, &r, err))
        goto done;
    leaf_batches(a, &w, rowx, leaves, nleaf, hk, excl, (int)pg_get_int(r, 0, 0));
    pg_result_free(r);
    r = NULL;
    w.td = td;
    atomic_init(&w.next, 0);
    atomic_init(&w.stop, false);
    wk[0].w = wk[1].w = &w;
    if (wk[1].c && !(started = pthread_create(&thread, NULL, worker_main, &wk[1]) == 0)) {
        pg_close(wk[1].c); /* this connection does it all */
        wk[1].c = NULL;
    }
    worker_main(&wk[0]);
    if (started) {
        pthread_join(thread, NULL);
        started = false;
        if (wk[1].ok && !pg_run(wk[1].c, "COMMIT", &wk[1].err))
            wk[1].ok = false;
    }
    if (!wk[0].ok || (wk[1].c && !wk[1].ok)) {
        *err = wk[0].ok ? wk[1].err : wk[0].err;
        goto done;
    }
    /* the chunks' groups added up: the source's tallies */
    const char *arrays[4];
    for (int j = 0; j < 4; j++) {
        const Buf *mine[] = {&wk[0].b1, &wk[0].b2, &wk[0].n, &wk[0].s},
                  *other[] = {&wk[1].b1, &wk[1].b2, &wk[1].n, &wk[1].s};
        arrays[j] =
            arena_printf(a, "{%s%s%s}", buf_str(mine[j]), mine[j]->len && other[j]->len ? "," : "", buf_str(other[j]));
    }
    if (!pg_exec(v->c,
                 "SELECT x.b1, x.b2, sum(x.n)::bigint, sum(x.s)::text FROM ROWS FROM (pg_catalog.unnest($1::int4[]),"
                 " pg_catalog.unnest($2::int4[]), pg_catalog.unnest($3::int8[]), pg_catalog.unnest($4::numeric[]))"
                 " x (b1, b2, n, s) GROUP BY 1, 2",
                 4, arrays, &rs, err))
        goto done;
    /* the leaves now, read from the catalog without locking them: the same
     * ones, or rows were read from a tree that changed meanwhile */
    const char *params[] = {dst};
    if (!pg_exec(v->c,
                 "WITH RECURSIVE t (oid) AS (SELECT $1::regclass::oid UNION ALL SELECT i.inhrelid FROM"
                 " pg_catalog.pg_inherits i JOIN t ON i.inhparent = t.oid)"
                 " SELECT coalesce(string_agg(t.oid::text, ',' ORDER BY t.oid), '') FROM t"
                 " JOIN pg_catalog.pg_class c ON c.oid = t.oid WHERE c.relkind <> 'p'",
                 1, params, &rt, err) ||
        !pg_run(v->c, "COMMIT", err))
        goto done;
    if (strcmp(pg_get(rt, 0, 0), oid_list(a, leaves, nleaf))) {
        err_set(err, PM_EDB, "verification failed for \"%s\": the partitions of %s changed while it was verified",
                v->qname, dst);
        err_hint(err, "nothing was swapped or dropped; run the command again");
        goto done;
    }

    /* (b1, b2) -> leaf */
    size_t cells = (size_t)(max1 + 1) * (size_t)(max2 + 1);
    int *cell = arena_alloc(a, sizeof *cell * cells);
    for (size_t i = 0; i < cells; i++)
        cell[i] = -1;
    for (int i = 0; i < nleaf; i++)
        if (leaves[i]->b1 > 0)
            cell[(size_t)leaves[i]->b1 * (size_t)(max2 + 1) + (size_t)leaves[i]->b2] = i;
    int64_t total_src = 0, total_dst = 0, sum_src = 0;
    for (int j = 0; j < pg_nrows(rs); j++) {
        int64_t b1 = pg_get_int(rs, j, 0), b2 = pg_get_int(rs, j, 1), cnt = pg_get_int(rs, j, 2);
        total_src += cnt;
        if (b1 <= 0 || b1 > max1 || b2 < 0 || b2 > max2)
            continue;
        int leaf = cell[(size_t)b1 * (size_t)(max2 + 1) + (size_t)b2];
        if (leaf < 0)
            continue;
        ts[leaf] = (Tally){cnt, arena_strdup(a, pg_get(rs, j, 3))};
        sum_src += cnt;
    }
    for (int i = 0; i < nleaf; i++)
        total_dst += td[i].count;
    int nbad = 0;
    for (int i = 0; i < nleaf; i++) {
        int64_t s = ts[i].count, d = td[i].count;
        if (s != d && nbad++ < 5)
            buf_printf(&bad, "%s%s: %lld in %s, %lld in %s", nbad > 1 ? "; " : "", leaves[i]->name, (long long)s, src,
                       (long long)d, dst);
        else if (s == d && fingerprint && strcmp(ts[i].sum, td[i].sum) && nbad++ < 5)
            buf_printf(&bad, "%s%s: %lld rows each, but their contents differ between %s and %s", nbad > 1 ? "; " : "",
                       leaves[i]->name, (long long)s, src, dst);
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
    if (started)
        pthread_join(thread, NULL);
    pg_close(wk[1].c);
    for (int i = 0; i < 2; i++) {
        arena_free(&wk[i].a);
        buf_free(&wk[i].b1);
        buf_free(&wk[i].b2);
        buf_free(&wk[i].n);
        buf_free(&wk[i].s);
    }
    if (!ok)
        conv_rollback_quietly(v->c);
    pg_result_free(rs);
    pg_result_free(rt);
    buf_free(&q);
    buf_free(&bad);
    return ok;
}
