/* convert_verify.c: exact per-partition counts (and row fingerprints) of
 * the original table and the partitioned one, in one snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/quote.h"
#include "../compiler/partitions.h"
#include "convert_internal.h"
#include "progress.h"
#include "runner.h"

/* The row fingerprint summed per partition: the first 64 bits of the md5 of
 * each row's text, added up (numeric, no overflow).  Order does not matter,
 * so no sort; a changed, missing or extra row changes the sum (up to a
 * 2^-64 chance).  SRC and DST have the same columns in the same order
 * (CREATE TABLE ... LIKE), so equal rows have equal text. */
#define ROW_HASH "('x' || left(md5(o::text), 16))::bit(64)::bigint"

bool conv_verify_counts(Conv *v, const char *src, const char *dst, const char *log, int64_t *rows, Err *err)
{
    return conv_verify_rows(v, src, dst, log, false, rows, err);
}

bool conv_verify_rows(Conv *v, const char *src, const char *dst, const char *log, bool fingerprint, int64_t *rows,
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
        conv_rollback_quietly(v->c);
    pg_result_free(r);
    pg_result_free(rs);
    pg_result_free(rd);
    buf_free(&q);
    buf_free(&bad);
    return ok;
}
