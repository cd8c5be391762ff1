/* copier.c: the batched, verified keyset copy of a conversion's backfill,
 * one thread and one connection per job.  Rows never pass through partmig:
 * each batch is INSERT ... SELECT on the server. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/quote.h"
#include "convert_internal.h"
#include "progress.h"
#include "retry.h"

/* {"a","b"} for a text[] parameter; NULL values stay NULL. */
static void text_array_literal(Buf *b, const char *const *vals, int n)
{
    buf_putc(b, '{');
    for (int i = 0; i < n; i++) {
        if (i)
            buf_putc(b, ',');
        if (!vals[i]) {
            buf_append(b, "NULL");
            continue;
        }
        buf_putc(b, '"');
        for (const char *s = vals[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                buf_putc(b, '\\');
            buf_putc(b, *s);
        }
        buf_putc(b, '"');
    }
    buf_putc(b, '}');
}

static bool keys_equal(const char *const *a, const char *const *b, int n)
{
    for (int i = 0; i < n; i++)
        if (!a[i] || !b[i] || strcmp(a[i], b[i]))
            return false;
    return true;
}

/* The key columns of the first row of R (row 0), copied into A. */
static const char **row_key(const PgResult *r, int row, int n, Arena *a)
{
    const char **k = arena_alloc(a, sizeof *k * (size_t)n);
    for (int i = 0; i < n; i++)
        k[i] = arena_strdup(a, pg_get(r, row, i));
    return k;
}

static bool key_is_integer(const CopyPlan *pl);

bool copier_split(PgConn *c, const CopyPlan *plan, int n, Arena *a, CopyJob **jobs, int *njobs, Err *err)
{
    *jobs = NULL;
    *njobs = 0;
    const char *kl = sql_column_list(a, plan->key, plan->nkey, "");
    Buf desc = {0};
    for (int i = 0; i < plan->nkey; i++)
        buf_printf(&desc, "%s%s DESC", i ? ", " : "", quote_ident_str(a, plan->key[i]));
    const char *sql = arena_printf(a, "SELECT %s FROM %s ORDER BY %s LIMIT 1", kl, plan->src, buf_str(&desc));
    buf_free(&desc);
    PgResult *r = NULL;
    if (!pg_exec(c, sql, 0, NULL, &r, err))
        return false;
    if (pg_nrows(r) == 0) {
        pg_result_free(r);
        return true;
    }
    const char **max = row_key(r, 0, plan->nkey, a);
    pg_result_free(r);

    if (n < 1)
        n = 1;
    *jobs = arena_alloc(a, sizeof **jobs * (size_t)n);
    const char **prev = NULL;
    /* never analyzed (reltuples -1) or empty when analyzed: the offsets
     * below would all be 0.  A single integer key splits [min, max] evenly
     * (no row need carry a split key: the jobs are key ranges); other keys
     * are counted once. */
    double est = plan->est_rows;
    if (n > 1 && est < 1 && key_is_integer(plan)) {
        sql = arena_printf(a, "SELECT min(%s)::text FROM %s", kl, plan->src);
        if (!pg_exec(c, sql, 0, NULL, &r, err))
            return false;
        int64_t lo = strtoll(pg_get(r, 0, 0), NULL, 10), hi = strtoll(max[0], NULL, 10);
        pg_result_free(r);
        for (int i = 1; i < n && hi > lo; i++) {
            int64_t at = lo + (int64_t)((double)(hi - lo) * i / n);
            if ((prev && strtoll(prev[0], NULL, 10) >= at) || at >= hi)
                continue;
            const char **split = arena_alloc(a, sizeof *split);
            split[0] = arena_printf(a, "%lld", (long long)at);
            (*jobs)[*njobs] = (CopyJob){*njobs, prev, split};
            (*njobs)++;
            prev = split;
        }
        (*jobs)[*njobs] = (CopyJob){*njobs, prev, max};
        (*njobs)++;
        return true;
    }
    if (n > 1 && est < 1) {
        if (!pg_exec(c, arena_printf(a, "SELECT count(*) FROM %s", plan->src), 0, NULL, &r, err))
            return false;
        est = (double)pg_get_int(r, 0, 0);
        pg_result_free(r);
    }
    sql = arena_printf(a, "SELECT %s FROM %s ORDER BY %s LIMIT 1 OFFSET $1", kl, plan->src, kl);
    for (int i = 1; i < n; i++) {
        char off[32];
        snprintf(off, sizeof off, "%lld", (long long)(est * i / n));
        const char *params[] = {off};
        if (!pg_exec(c, sql, 1, params, &r, err))
            return false;
        const char **split = pg_nrows(r) ? row_key(r, 0, plan->nkey, a) : NULL;
        pg_result_free(r);
        if (!split || keys_equal(split, max, plan->nkey) || (prev && keys_equal(split, prev, plan->nkey)))
            break;
        (*jobs)[*njobs] = (CopyJob){*njobs, prev, split};
        (*njobs)++;
        prev = split;
    }
    (*jobs)[*njobs] = (CopyJob){*njobs, prev, max};
    (*njobs)++;
    return true;
}

PgConn *copier_connect(const char *db_url, const char *name, Err *err)
{
    PgConn *c = pg_connect(db_url, err);
    const char *params[] = {name};
    if (c && (!pg_run(c, "SET statement_timeout = 0", err) ||
              !pg_exec(c, "SELECT pg_catalog.set_config('application_name', $1, false)", 1, params, NULL, err))) {
        pg_close(c);
        return NULL;
    }
    return c;
}

/* ---- the jobs ---- */

typedef struct Shared {
    const CopyPlan *plan;
    atomic_llong rows; /* copied so far, all jobs */
    atomic_bool stop;  /* a job failed: the others stop after their batch */
    atomic_int running;
} Shared;

typedef struct JobRun {
    Shared *sh;
    const CopyJob *job;
    Err err;
    char sqlstate[6]; /* the server's SQLSTATE of the failure, "" when none */
    bool ok;
} JobRun;

typedef struct JobSql {
    const char *next_hi, *next_hi_first; /* the batch's upper key: an OFFSET scan of the key index */
    const char *copy, *copy_first;       /* INSERT ... SELECT; its command tag counts the rows */
    const char *count, *count_first;     /* source rows of the range, counted on their own */
} JobSql;

static void build_sql(const CopyPlan *pl, Arena *a, JobSql *q)
{
    int k = pl->nkey;
    const char *kl = sql_column_list(a, pl->key, k, "");
    const char *lo = sql_key_params(a, pl->key_types, k, 1);
    const char *hi = sql_key_params(a, pl->key_types, k, k + 1);
    const char *hi1 = sql_key_params(a, pl->key_types, k, 1);
    const char *range = arena_printf(a, "(%s) > %s AND (%s) <= %s", kl, lo, kl, hi);
    const char *range1 = arena_printf(a, "(%s) <= %s", kl, hi1);
    const char *limit = arena_printf(a, "ORDER BY %s LIMIT 1 OFFSET %d", kl, pl->batch_size - 1);
    q->next_hi = arena_printf(a, "SELECT %s FROM %s WHERE %s %s", kl, pl->src, range, limit);
    q->next_hi_first = arena_printf(a, "SELECT %s FROM %s WHERE %s %s", kl, pl->src, range1, limit);
    /* no ORDER BY: the target is partitioned on another column, so the
     * order of the rows buys nothing; the key range alone decides which
     * rows a batch copies */
    /* identity columns keep their values (OVERRIDING SYSTEM VALUE: a
     * GENERATED ALWAYS column refuses them otherwise) */
    const char *ov = pl->overriding ? pl->overriding : "";
    q->copy = arena_printf(a, "INSERT INTO %s (%s)%s SELECT %s FROM %s WHERE %s", pl->dst, pl->cols, ov, pl->cols,
                           pl->src, range);
    q->copy_first = arena_printf(a, "INSERT INTO %s (%s)%s SELECT %s FROM %s WHERE %s", pl->dst, pl->cols, ov, pl->cols,
                                 pl->src, range1);
    q->count = arena_printf(a, "SELECT count(*) FROM %s WHERE %s", pl->src, range);
    q->count_first = arena_printf(a, "SELECT count(*) FROM %s WHERE %s", pl->src, range1);
}

/* A single integer key: the next upper key can be computed (lo +
 * batch_size) instead of looked up.  Such a batch never holds more than
 * batch_size rows (the keys are unique integers), only fewer where the ids
 * have gaps; there the copier goes back to the lookup. */
static bool key_is_integer(const CopyPlan *pl)
{
    if (pl->nkey != 1)
        return false;
    const char *t = pl->key_types[0];
    return !strcmp(t, "bigint") || !strcmp(t, "integer") || !strcmp(t, "smallint");
}

/* The parameters of a key range: LO's K values (when LO is given), then
 * HI's.  Sized from K (a key has up to INDEX_MAX_KEYS = 32 columns);
 * malloc'd, the caller frees; NULL when out of memory. */
static const char **range_params(const char *const *lo, const char *const *hi, int k, int *np)
{
    const char **params = malloc(sizeof *params * (size_t)(2 * k + 1));
    *np = 0;
    if (!params)
        return NULL;
    if (lo)
        for (int i = 0; i < k; i++)
            params[(*np)++] = lo[i];
    for (int i = 0; i < k; i++)
        params[(*np)++] = hi[i];
    return params;
}

/* One batch (lo, hi] in its own transaction; false on any error (its
 * SQLSTATE in SQLSTATE[6]). */
static bool run_batch(PgConn *c, const CopyPlan *pl, const JobSql *q, int job, const char **lo, const char **hi,
                      int64_t *copied, char *sqlstate, Err *err)
{
    int k = pl->nkey;
    int np = 0;
    const char **params = range_params(lo, hi, k, &np);
    if (!params)
        return err_set(err, PM_EDB, "out of memory");
    PgResult *r = NULL;
    bool ok = false;
    double t0 = retry_now();
    Buf blo = {0}, bhi = {0};
    int64_t n_copied = 0, n_source = 0, n_target = 0;

    if (!pg_run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ", err))
        goto done;
    /* copied: what the INSERT itself reports writing into the target */
    if (!pg_exec(c, lo ? q->copy : q->copy_first, np, params, &r, err))
        goto done;
    n_copied = pg_cmd_tuples(r);
    pg_result_free(r);
    r = NULL;
    /* source: the range counted again, independently of the INSERT, in the
     * same snapshot (an index-only scan of the key) */
    if (!pg_exec(c, lo ? q->count : q->count_first, np, params, &r, err))
        goto done;
    n_source = pg_get_int(r, 0, 0);
    pg_result_free(r);
    r = NULL;
    /* The target is not counted per batch: its key is not the partition
     * key, so that count probed every partition's index in every batch.
     * The batch still records its key range and both row counts (source
     * rows and copied rows); target_rows holds the rows the INSERT wrote
     * into the target.  The full check of the target is the exact
     * per-partition comparison of old and new in one snapshot before the
     * swap (conv_verify_counts in convert_verify.c), which nothing skips. */
    n_target = n_copied;
    if (lo)
        text_array_literal(&blo, lo, k);
    text_array_literal(&bhi, hi, k);
    if (n_copied != n_source) {
        err_set(err, PM_EDB, "batch count mismatch copying %s (job %d, keys %s .. %s): %lld source rows, %lld copied",
                pl->label, job, lo ? buf_str(&blo) : "start", buf_str(&bhi), (long long)n_source, (long long)n_copied);
        err_hint(err, "the copy stopped and nothing of this batch was kept; check what else writes to the new table, "
                      "then run apply again");
        goto done;
    }
    char job_s[16], src_s[32], cop_s[32], tgt_s[32], ms_s[32];
    snprintf(job_s, sizeof job_s, "%d", job);
    snprintf(src_s, sizeof src_s, "%lld", (long long)n_source);
    snprintf(cop_s, sizeof cop_s, "%lld", (long long)n_copied);
    snprintf(tgt_s, sizeof tgt_s, "%lld", (long long)n_target);
    snprintf(ms_s, sizeof ms_s, "%.3f", (retry_now() - t0) * 1000.0);
    const char *lp[] = {pl->conversion, job_s, lo ? buf_str(&blo) : NULL, buf_str(&bhi), src_s, cop_s, tgt_s, ms_s};
    if (!pg_exec(c,
                 "INSERT INTO partmig.batches (conversion, job, key_lo, key_hi, source_rows, copied_rows, target_rows,"
                 " ms) VALUES ($1::bigint, $2::int, $3::text[], $4::text[], $5::bigint, $6::bigint, $7::bigint,"
                 " $8::float8)",
                 8, lp, NULL, err))
        goto done;
    if (!pg_run(c, "COMMIT", err))
        goto done;
    *copied = n_copied;
    ok = true;
done:
    pg_result_free(r);
    if (!ok)
        snprintf(sqlstate, 6, "%s", pg_last_sqlstate(c)); /* before the ROLLBACK clears it */
    if (!ok && pg_ok(c) && pg_in_transaction(c)) {
        Err ignore;
        pg_run(c, "ROLLBACK", &ignore);
    }
    buf_free(&blo);
    buf_free(&bhi);
    free(params);
    return ok;
}

static void *job_main(void *arg)
{
    JobRun *jr = arg;
    Shared *sh = jr->sh;
    const CopyPlan *pl = sh->plan;
    const CopyJob *job = jr->job;
    Arena a = {0};
    PgConn *c = NULL;
    PgResult *r = NULL;
    JobSql q;
    int k = pl->nkey;
    err_clear(&jr->err);
    jr->ok = false;
    build_sql(pl, &a, &q);

    c = copier_connect(pl->db_url, "partmig copy", &jr->err);
    if (!c)
        goto done;

    /* resume after the job's last recorded batch */
    char job_s[16];
    snprintf(job_s, sizeof job_s, "%d", job->job);
    const char *rp[] = {pl->conversion, job_s};
    if (!pg_exec(c,
                 "SELECT (SELECT key_hi::text FROM partmig.batches WHERE conversion = $1::bigint AND job = $2::int"
                 " ORDER BY id DESC LIMIT 1), (SELECT coalesce(sum(copied_rows), 0) FROM partmig.batches"
                 " WHERE conversion = $1::bigint AND job = $2::int)",
                 2, rp, &r, &jr->err))
        goto done;
    const char **lo = job->lo;
    if (!pg_isnull(r, 0, 0)) {
        int n = 0;
        if (!sql_parse_text_array(pg_get(r, 0, 0), &a, &lo, &n) || n != k) {
            err_set(&jr->err, PM_EDB, "partmig.batches holds a bad key range for job %d", job->job);
            goto done;
        }
    }
    atomic_fetch_add(&sh->rows, (long long)pg_get_int(r, 0, 1));
    pg_result_free(r);
    r = NULL;

    /* integer key: computed upper keys while the ids are dense (a batch of
     * at least half batch_size rows), looked up where they are sparse */
    bool integer = key_is_integer(pl), computed = false;
    int64_t job_hi = integer ? strtoll(job->hi[0], NULL, 10) : 0;
    while ((!lo || !keys_equal(lo, job->hi, k)) && !atomic_load(&sh->stop)) {
        const char **hi = job->hi;
        int64_t lo_v = lo && integer ? strtoll(lo[0], NULL, 10) : 0;
        if (lo && computed) {
            if (job_hi >= INT64_MIN + pl->batch_size && lo_v < job_hi - pl->batch_size) {
                const char **h = arena_alloc(&a, sizeof *h);
                h[0] = arena_printf(&a, "%" PRId64, lo_v + pl->batch_size);
                hi = h;
            }
        } else {
            int np = 0;
            const char **params = range_params(lo, job->hi, k, &np);
            bool qok = params && pg_exec(c, lo ? q.next_hi : q.next_hi_first, np, params, &r, &jr->err);
            if (!params)
                err_set(&jr->err, PM_EDB, "out of memory");
            free(params);
            if (!qok)
                goto done;
            if (pg_nrows(r))
                hi = row_key(r, 0, k, &a);
            pg_result_free(r);
            r = NULL;
        }
        int64_t copied = 0;
        if (!run_batch(c, pl, &q, job->job, lo, hi, &copied, jr->sqlstate, &jr->err))
            goto done;
        atomic_fetch_add(&sh->rows, (long long)copied);
        if (integer && lo) {
            /* keys are unique integers: a computed batch never exceeds
             * batch_size rows; a looked-up one spanning under twice
             * batch_size keys says the ids are dense again */
            double width = (double)strtoll(hi[0], NULL, 10) - (double)lo_v;
            computed = computed ? copied >= pl->batch_size / 2 : width < 2.0 * pl->batch_size;
        } else if (integer)
            computed = true; /* after the first batch, try the arithmetic */
        lo = hi;
        retry_sleep_ms(pl->sleep_ms);
    }
    jr->ok = true;
done:
    if (!jr->ok) {
        atomic_store(&sh->stop, true);
        if (!jr->sqlstate[0] && c)
            snprintf(jr->sqlstate, sizeof jr->sqlstate, "%s", pg_last_sqlstate(c));
    }
    pg_result_free(r);
    pg_close(c);
    arena_free(&a);
    atomic_fetch_sub(&sh->running, 1);
    return NULL;
}

bool copier_run(const CopyPlan *plan, char sqlstate[6], Err *err)
{
    sqlstate[0] = '\0';
    if (plan->njobs == 0)
        return true;
    Shared sh;
    sh.plan = plan;
    atomic_init(&sh.rows, 0);
    atomic_init(&sh.stop, false);
    atomic_init(&sh.running, plan->njobs);
    JobRun *runs = calloc((size_t)plan->njobs, sizeof *runs);
    pthread_t *threads = calloc((size_t)plan->njobs, sizeof *threads);
    bool *started = calloc((size_t)plan->njobs, sizeof *started);
    bool ok = false, start_failed = false;
    if (!runs || !threads || !started) {
        err_set(err, PM_EDB, "out of memory");
        goto done;
    }
    Progress pr;
    progress_start(&pr, plan->label, (int64_t)plan->est_rows);
    for (int i = 0; i < plan->njobs; i++) {
        runs[i].sh = &sh;
        runs[i].job = &plan->jobs[i];
        if (pthread_create(&threads[i], NULL, job_main, &runs[i]) != 0) {
            atomic_store(&sh.stop, true);
            atomic_fetch_sub(&sh.running, plan->njobs - i);
            err_set(err, PM_EDB, "cannot start copy job %d", i);
            start_failed = true;
            break;
        }
        started[i] = true;
    }
    while (atomic_load(&sh.running) > 0) {
        progress_update(&pr, (int64_t)atomic_load(&sh.rows));
        retry_sleep_ms(100);
    }
    ok = !start_failed;
    for (int i = 0; i < plan->njobs; i++) {
        if (!started[i])
            continue;
        pthread_join(threads[i], NULL);
        if (!runs[i].ok && ok) {
            *err = runs[i].err;
            memcpy(sqlstate, runs[i].sqlstate, sizeof runs[i].sqlstate);
            ok = false;
        }
    }
    if (ok)
        progress_finish(&pr, (int64_t)atomic_load(&sh.rows));
    else if (pr.printed && pr.tty)
        fputc('\n', stderr);
done:
    free(runs);
    free(threads);
    free(started);
    return ok;
}

/* ---- scripts over the job connections ---- */

#define SCRIPT_DEADLOCK_TRIES 5

typedef struct ScriptRun {
    const char *db_url;
    const char *const *scripts;
    int n;
    atomic_int next; /* the next script to take */
    atomic_bool stop;
} ScriptRun;

typedef struct ScriptJob {
    ScriptRun *sr;
    Err err;
    bool ok;
} ScriptJob;

static void *script_main(void *arg)
{
    ScriptJob *sj = arg;
    ScriptRun *sr = sj->sr;
    err_clear(&sj->err);
    sj->ok = false;
    PgConn *c = copier_connect(sr->db_url, "partmig index", &sj->err);
    if (!c)
        goto done;
    for (;;) {
        if (atomic_load(&sr->stop))
            break;
        int i = atomic_fetch_add(&sr->next, 1);
        if (i >= sr->n)
            break;
        /* a deadlock with autovacuum (vacuuming a partition, it waits for
         * an index this script holds): the server rolled the script back
         * whole; it runs again */
        for (int tries = 1; !pg_exec_script(c, sr->scripts[i], &sj->err); tries++) {
            if (strcmp(pg_last_sqlstate(c), "40P01") != 0 || tries >= SCRIPT_DEADLOCK_TRIES)
                goto done;
            err_clear(&sj->err);
        }
    }
    sj->ok = true;
done:
    if (!sj->ok)
        atomic_store(&sr->stop, true);
    pg_close(c);
    return NULL;
}

bool copier_scripts(const char *db_url, const char *const *scripts, int n, int jobs, Err *err)
{
    if (n == 0)
        return true;
    if (jobs < 1)
        jobs = 1;
    if (jobs > n)
        jobs = n;
    ScriptRun sr;
    sr.db_url = db_url;
    sr.scripts = scripts;
    sr.n = n;
    atomic_init(&sr.next, 0);
    atomic_init(&sr.stop, false);
    ScriptJob *runs = calloc((size_t)jobs, sizeof *runs);
    pthread_t *threads = calloc((size_t)jobs, sizeof *threads);
    bool ok = runs && threads;
    int started = 0;
    if (!ok) {
        err_set(err, PM_EDB, "out of memory");
        goto done;
    }
    for (; started < jobs; started++) {
        runs[started].sr = &sr;
        if (pthread_create(&threads[started], NULL, script_main, &runs[started]) != 0) {
            atomic_store(&sr.stop, true);
            err_set(err, PM_EDB, "cannot start index job %d", started);
            ok = false;
            break;
        }
    }
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        if (!runs[i].ok && ok) {
            *err = runs[i].err;
            ok = false;
        }
    }
done:
    free(runs);
    free(threads);
    return ok;
}
