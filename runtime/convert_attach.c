/* convert_attach.c: the attach method -- a validated CHECK constraint, the
 * unique index, and the short transaction that attaches the original table
 * as the first partition. */
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

const char *conv_range_check_name(Conv *v)
{
    return conv_name63(v->a, v->p->table, "_partmig_range");
}

const char *conv_attach_index_name(Conv *v)
{
    return conv_name63(v->a, v->p->table, "_partmig_key");
}

/* Whether the attach builds its own unique index over the new key: whenever
 * the old table has no primary key that holds the partition column (none at
 * all, or one without it).  ATTACH PARTITION adopts only an index that backs
 * a constraint; without one it builds the parent's key index on the old table
 * under its ACCESS EXCLUSIVE lock, and a rollback's detach would leave that
 * primary key behind on the restored table. */
static bool attach_builds_key(const Conv *v)
{
    return !v->f.pk_has_partkey || !v->f.pkey_index;
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
    const char *params[] = {v->row.old_oid, conv_range_check_name(v)};
    if (!pg_exec(c, "SELECT 1 FROM pg_constraint WHERE conrelid = $1::oid AND conname = $2", 2, params, &r, err))
        return false;
    bool exists = pg_nrows(r) > 0;
    pg_result_free(r);
    if (exists)
        return true;
    const char *col = quote_ident_str(a, v->p->column);
    Buf b = {0};
    buf_printf(&b, "ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s < %s", v->q_table,
               quote_ident_str(a, conv_range_check_name(v)), col, bound_literal(v, v->row.upper));
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
            int64_t mx = v->f.data_max ? strtoll(v->f.data_max, NULL, 10) : anchor, up;
            if (!interval_int_upper_checked(step, anchor, mx, 1, &up)) {
                err_set(err, PM_EINPUT,
                        "\"%s\": the key's largest value %lld leaves no room for a partition "
                        "boundary above it within bigint",
                        v->qname, (long long)mx);
                return err_hint(err, "use method copy, or keep the key's values further from the bigint limit");
            }
            hi_text = arena_printf(a, "%lld", (long long)up);
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
    buf_printf(&b, "ALTER TABLE %s VALIDATE CONSTRAINT %s", v->q_table, quote_ident_str(a, conv_range_check_name(v)));
    bool ok = pg_run(v->c, buf_str(&b), err);
    buf_free(&b);
    if (!ok)
        return false;
    if (attach_builds_key(v)) {
        PgResult *r = NULL;
        const char *params[] = {v->p->schema, conv_attach_index_name(v)};
        if (!pg_exec(v->c,
                     "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                     " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                     2, params, &r, err))
            return false;
        int state = pg_nrows(r) == 0 ? 0 : pg_get(r, 0, 0)[0] == 't' ? 2 : 1;
        pg_result_free(r);
        const char *qix = quote_qualified_str(a, v->p->schema, conv_attach_index_name(v));
        if (state == 1 && !pg_run(v->c, arena_printf(a, "DROP INDEX CONCURRENTLY IF EXISTS %s", qix), err))
            return false;
        if (state != 2 && !pg_run(v->c,
                                  arena_printf(a, "CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s)",
                                               quote_ident_str(a, conv_attach_index_name(v)), v->q_table,
                                               sql_column_list(a, v->f.new_pk, v->f.nnew_pk, "")),
                                  err))
            return false;
    }
    return conv_set_state(v, "verified", err);
}

static bool attach_body(PgConn *c, void *ctx, Err *err)
{
    Conv *v = ctx;
    Arena *a = v->a;
    const Policy *p = v->p;
    const char *schema = p->schema;
    Buf b = {0}, views = {0};
    bool ok = false;
    double t0 = retry_now();
    PartitionSpec *specs = NULL, *fixed = NULL;
    int n = 0, nfixed = 0;
    const char *to_text;
    if (p->interval.unit == UNIT_INTEGER) {
        int64_t up;
        if (!interval_int_upper_checked(p->interval.count, strtoll(v->row.upper, NULL, 10),
                                        strtoll(v->row.upper, NULL, 10), p->premake > 0 ? p->premake : 1, &up)) {
            err_set(err, PM_EINPUT,
                    "\"%s\": premake partitions above %s would end past 9223372036854775807, the "
                    "largest bigint",
                    v->qname, v->row.upper);
            return err_hint(err, "lower premake, or keep the key's values further from the bigint limit");
        }
        to_text = arena_printf(a, "%lld", (long long)up);
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
    if (!pg_run(c, buf_str(&b), err) || !conv_views_capture(v, v->row.old_oid, &views, err))
        goto done;
    buf_reset(&b);
    const char *kept = quote_ident_str(a, v->row.kept);
    buf_printf(&b, "ALTER TABLE %s RENAME TO %s;\n", v->q_table, kept);
    if (attach_builds_key(v))
        buf_printf(&b, "ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s;\n", v->q_kept,
                   quote_ident_str(a, conv_attach_index_name(v)), quote_ident_str(a, conv_attach_index_name(v)));
    buf_printf(&b,
               "CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING "
               "COMMENTS INCLUDING GENERATED INCLUDING COMPRESSION INCLUDING IDENTITY) PARTITION BY RANGE (%s);\n",
               v->q_table, v->q_kept, quote_ident_str(a, p->column));
    buf_printf(&b, "ALTER TABLE %s DROP CONSTRAINT %s;\n", v->q_table, quote_ident_str(a, conv_range_check_name(v)));
    /* the old indexes step aside; the parent's take their names and adopt them */
    const char *pk_name = v->f.pkey_index ? v->f.pkey_index : conv_name63(a, p->table, "_pkey");
    if (v->f.pkey_index) {
        const char *parked = conv_name63(a, v->row.kept, "_pkey");
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", quote_qualified_str(a, schema, v->f.pkey_index),
                   quote_ident_str(a, parked));
        if (!conv_record_names(v, v->f.pkey_index, parked, NULL, err))
            goto done;
    }
    buf_printf(&b, "ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (%s);\n", v->q_table, quote_ident_str(a, pk_name),
               sql_column_list(a, v->f.new_pk, v->f.nnew_pk, ""));
    for (int i = 0; i < v->f.nix; i++) {
        const char *parked = conv_name63(a, v->f.ix_names[i], arena_printf(a, "_p%s", v->row.id));
        buf_printf(&b, "ALTER INDEX %s RENAME TO %s;\n", quote_qualified_str(a, schema, v->f.ix_names[i]),
                   quote_ident_str(a, parked));
        buf_printf(&b, "CREATE %sINDEX %s ON ONLY %s %s;\n", v->f.ix_unique[i] ? "UNIQUE " : "",
                   quote_ident_str(a, v->f.ix_names[i]), v->q_table, v->f.ix_using[i]);
        if (!conv_record_names(v, v->f.ix_names[i], parked, NULL, err))
            goto done;
    }
    buf_printf(&b, "ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (%s);\n", v->q_table, v->q_kept,
               v->row.lower ? bound_literal(v, v->row.lower) : "MINVALUE", bound_literal(v, v->row.upper));
    for (int i = 0; i < n; i++)
        partition_create_sql(&b, p, p->table, &specs[i]);
    for (int i = 0; i < nfixed; i++)
        partition_create_sql(&b, p, p->table, &fixed[i]);
    if (!conv_sequences_move(v, v->row.old_oid, v->q_table, &b, err) ||
        !conv_grants_copy(v, v->row.old_oid, v->q_table, &b, err) ||
        !conv_row_security_copy(v, v->row.old_oid, v->q_table, &b, err))
        goto done;
    buf_append(&b, buf_str(&views));
    if (!conv_script(c, &b, err))
        goto done;
    buf_reset(&b);
    /* the new partitions above the old table get its storage parameters */
    if (!conv_reloptions_copy(v, v->q_table, &b, err))
        goto done;
    /* identity columns (PostgreSQL 15 attaches a table with its own identity
     * column; the parent has one too): the parent's sequence continues after
     * the old table's and takes its name */
    for (int i = 0; i < v->f.nident; i++) {
        IdentSeq old_seq, new_seq;
        if (!conv_identity_continue(v, v->q_kept, v->q_table, v->f.ident_cols[i], &old_seq, &new_seq, err))
            goto done;
        if (strcmp(old_seq.schema, schema) || strcmp(new_seq.schema, schema))
            continue;
        const char *parked = arena_printf(a, "pm%s_old_seq%d", v->row.id, i);
        buf_printf(&b, "ALTER SEQUENCE %s RENAME TO %s;\n", old_seq.qname, quote_ident_str(a, parked));
        buf_printf(&b, "ALTER SEQUENCE %s RENAME TO %s;\n", new_seq.qname, quote_ident_str(a, old_seq.name));
        if (!conv_record_names(v, old_seq.name, parked, NULL, err))
            goto done;
    }
    if (!conv_owner_copy(v, v->q_table, v->f.owner, &b, err) || !conv_script(c, &b, err))
        goto done;
    if (!conv_record_swapped(v, t0, err))
        goto done;
    ok = true;
done:
    buf_free(&b);
    buf_free(&views);
    return ok;
}

bool conv_run_attach(Conv *v, Err *err)
{
    if (conv_state_is(v, "preflight") && !attach_prepare(v, err))
        return false;
    if (conv_state_is(v, "verified")) {
        if (!conv_locked(v, "attaching the table as the first partition", attach_body, err))
            return false;
        fprintf(stderr, "partmig: %s: attached the existing table as partition %s (no rows copied)\n", v->qname,
                v->q_kept);
        /* autovacuum never analyzes a partitioned parent: without this the
         * planner guesses its size (ANALYZE takes no lock writers feel) */
        if (!pg_run(v->c, arena_printf(v->a, "ANALYZE %s", v->q_table), err))
            return false;
    }
    return true;
}
