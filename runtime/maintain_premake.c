/* maintain_premake.c: maintain's premake (the partitions the clock needs
 * next), the DEFAULT partition (its rows reported, or drained into proper
 * partitions) and pg_partman's maintenance for its tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"
#include "../common/quote.h"
#include "maintain_internal.h"
#include "premake.h"

/* ---- premake ---- */

static bool create_partition(Table *t, const PartitionSpec *s, const PartInfo *def, Err *err)
{
    Maint *m = t->m;
    bool present = false, partition = false;
    if (!catalog_relation_state(m->c, t->p.schema, s->name, &present, &partition, err))
        return false;
    if (present) {
        err_set(err, PM_EDB, "cannot create partition %s: a table \"%s.%s\" exists and is not a partition of it",
                s->name, t->p.schema, s->name);
        return err_hint(err, "rename or drop that table (a detached partition kept by retention?)");
    }
    bool range = t->p.by == PART_RANGE && strcmp(s->bound_sql, "DEFAULT") != 0;
    if (def && range) {
        const char *lo, *hi;
        int64_t rows = 0;
        maint_spec_params(t, s, &lo, &hi);
        if (!catalog_count_range(m->c, def->schema, def->name, t->p.column, lo, hi, &rows, err))
            return false;
        if (rows) {
            err_set(err, PM_EDB, "cannot create partition %s %s: DEFAULT partition %s holds %lld rows of that range",
                    s->name, maint_spec_range(t, s), def->name, (long long)rows);
            return err_hint(err, "run \"partmig maintain --drain-default\" to move them into their partitions");
        }
    }
    if (m->o.dry_run) {
        maint_say(t, "create partition %s %s", s->name, maint_spec_range(t, s));
        return true;
    }
    Buf sql = {0};
    partition_create_sql(&sql, &t->p, t->p.table, s);
    Tx x = {.script = buf_str(&sql), .carry_name = s->name};
    bool ok = maint_run_tx(t, &x, arena_printf(m->arena, "%s.%s", t->p.schema, s->name),
                           "SHARE UPDATE EXCLUSIVE on the table", err);
    buf_free(&sql);
    if (ok)
        maint_say(t, "created partition %s %s", s->name, maint_spec_range(t, s));
    return ok;
}

bool maint_step_premake(Table *t, Err *err)
{
    PartitionSpec *specs;
    int n;
    const char *from, *to;
    if (!premake_ahead(t->m->c, &t->p, &t->ti, t->m->arena, &specs, &n, &from, &to, err) || !maint_refresh(t, err))
        return maint_fail(t, err);
    const PartInfo *def = maint_default_part(t);
    bool ok = true;
    for (int i = 0; i < n; i++)
        if (!premake_spec_present(&specs[i], t->parts, t->nparts) && !create_partition(t, &specs[i], def, err))
            ok = maint_fail(t, err);
    return ok;
}

/* ---- DEFAULT partition ---- */

static bool drain_range(Table *t, const PartInfo *def, const PartitionSpec *s, const char *columns, Err *err)
{
    Maint *m = t->m;
    const char *lo, *hi;
    int64_t rows = 0;
    maint_spec_params(t, s, &lo, &hi);
    if (!catalog_count_range(m->c, def->schema, def->name, t->p.column, lo, hi, &rows, err))
        return false;
    if (!rows)
        return true;
    bool present = false, partition = false;
    if (!catalog_relation_state(m->c, t->p.schema, s->name, &present, &partition, err))
        return false;
    if (present) {
        err_set(err, PM_EDB, "cannot drain %lld DEFAULT rows of %s into %s: a table \"%s.%s\" exists already",
                (long long)rows, maint_spec_range(t, s), s->name, t->p.schema, s->name);
        return err_hint(err, partition ? "its bounds differ from the policy's; fix the partition by hand"
                                       : "rename or drop that table, then run maintain --drain-default again");
    }
    if (m->o.dry_run) {
        maint_say(t, "move %lld rows from DEFAULT partition %s into new partition %s %s", (long long)rows, def->name,
                  s->name, maint_spec_range(t, s));
        return true;
    }
    Buf lock = {0}, count = {0}, create = {0}, move = {0}, attach = {0}, col = {0};
    quote_ident(&col, t->p.column);
    /* the parent first, in a mode that waits for and holds off every write
     * routed through it: an insert that had picked DEFAULT for this range
     * before the attach would fail PostgreSQL's re-check of DEFAULT's new
     * constraint; held off, it routes afresh after the commit and lands in
     * the new partition.  Readers go on; writers wait for this one short
     * move-and-attach transaction. */
    buf_append(&lock, "LOCK TABLE ");
    quote_qualified(&lock, t->p.schema, t->p.table);
    buf_append(&lock, " IN SHARE ROW EXCLUSIVE MODE;\nLOCK TABLE ");
    quote_qualified(&lock, def->schema, def->name);
    buf_append(&lock, " IN EXCLUSIVE MODE");
    buf_append(&count, "SELECT count(*) FROM ");
    quote_qualified(&count, def->schema, def->name);
    buf_printf(&count, " WHERE %s >= $1 AND %s < $2", buf_str(&col), buf_str(&col));
    buf_append(&create, "CREATE TABLE ");
    quote_qualified(&create, t->p.schema, s->name);
    buf_append(&create, " (LIKE ");
    quote_qualified(&create, t->p.schema, t->p.table);
    buf_append(&create, " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)");
    buf_append(&move, "WITH moved AS (DELETE FROM ");
    quote_qualified(&move, def->schema, def->name);
    buf_printf(&move, " WHERE %s >= $1 AND %s < $2 RETURNING %s), ins AS (INSERT INTO ", buf_str(&col), buf_str(&col),
               columns);
    quote_qualified(&move, t->p.schema, s->name);
    buf_printf(&move, " (%s) SELECT %s FROM moved RETURNING 1) SELECT count(*) FROM ins", columns, columns);
    buf_append(&attach, "ALTER TABLE ");
    quote_qualified(&attach, t->p.schema, t->p.table);
    buf_append(&attach, " ATTACH PARTITION ");
    quote_qualified(&attach, t->p.schema, s->name);
    buf_printf(&attach, " %s", s->bound_sql);
    Tx x = {.script = buf_str(&create),
            .drain_lock = buf_str(&lock),
            .drain_lo = lo,
            .drain_hi = hi,
            .drain_count_sql = buf_str(&count),
            .drain_move_sql = buf_str(&move),
            .drain_attach = buf_str(&attach),
            .carry_name = s->name};
    bool ok = maint_run_tx(t, &x, arena_printf(m->arena, "%s.%s", def->schema, def->name),
                           "SHARE ROW EXCLUSIVE on the table, EXCLUSIVE on the DEFAULT partition", err);
    if (ok)
        maint_say(t, "moved %lld rows from DEFAULT partition %s into new partition %s %s (counted %lld before)",
                  (long long)x.moved, def->name, s->name, maint_spec_range(t, s), (long long)x.before);
    if (ok) {
        /* the moved rows' statistics, outside the move's lock (PostgreSQL
         * never analyzes a partition created with its rows until autovacuum
         * comes by) */
        Buf an = {0};
        buf_append(&an, "ANALYZE ");
        quote_qualified(&an, t->p.schema, s->name);
        ok = maint_run_stmt(t, arena_printf(m->arena, "%s.%s", t->p.schema, s->name), buf_str(&an), err);
        buf_free(&an);
    }
    buf_free(&lock);
    buf_free(&count);
    buf_free(&create);
    buf_free(&move);
    buf_free(&attach);
    buf_free(&col);
    return ok;
}

bool maint_step_drain(Table *t, Err *err)
{
    Maint *m = t->m;
    if (!maint_refresh(t, err))
        return maint_fail(t, err);
    const PartInfo *def = maint_default_part(t);
    if (!def)
        return true;
    bool waits;
    if (!maint_conversion_waits(t, "--drain-default", &waits, err))
        return maint_fail(t, err);
    if (waits)
        return true;
    if (t->p.by != PART_RANGE || t->p.subpartition.set) {
        err_set(err, PM_EINPUT, "--drain-default handles range policies without subpartitions only");
        err_hint(err, "move the DEFAULT rows of this table by hand");
        return maint_fail(t, err);
    }
    bool integer = t->p.interval.unit == UNIT_INTEGER;
    const char *dmin = "", *dmax = "", *columns = "";
    if (!catalog_key_range(m->c, def->schema, def->name, t->p.column, t->p.timezone, integer, m->arena, &dmin, &dmax,
                           err) ||
        !catalog_column_list(m->c, t->p.schema, t->p.table, m->arena, &columns, err))
        return maint_fail(t, err);
    if (!*dmin)
        return true;
    const char *to;
    if (integer)
        to = arena_printf(m->arena, "%lld", strtoll(dmax, NULL, 10) + 1);
    else {
        WallTime w = {1970, 1, 1, 0};
        walltime_parse(dmax, &w);
        Buf b = {0};
        walltime_format(&b, interval_add((Interval){UNIT_HOUR, 1}, w, 1));
        to = buf_to_arena(&b, m->arena);
    }
    PartitionSpec *specs;
    int n;
    if (!partitions_range(&t->p, dmin, to, m->arena, &specs, &n, err))
        return maint_fail(t, err);
    bool ok = true;
    for (int i = 0; i < n; i++)
        if (!drain_range(t, def, &specs[i], columns, err))
            ok = maint_fail(t, err);
    return ok;
}

bool maint_report_default(Table *t, Err *err)
{
    if (!maint_refresh(t, err))
        return maint_fail(t, err);
    const PartInfo *def = maint_default_part(t);
    if (!def)
        return true;
    int64_t rows = 0;
    if (!catalog_count_rows(t->m->c, def->schema, def->name, &rows, err))
        return maint_fail(t, err);
    printf("%s: DEFAULT partition %s holds %lld rows\n", t->qname, def->name, (long long)rows);
    if (rows && !t->m->drain && t->p.by == PART_RANGE)
        printf("%s: hint: \"partmig maintain --drain-default\" moves them into their partitions\n", t->qname);
    return true;
}

/* ---- pg_partman ---- */

/* partman.run_maintenance() for PARENT ("schema.table") alone, in the
 * caller's transaction.  Without RETENTION its part_config.retention is
 * cleared for the call and put back before the transaction ends: premake
 * runs, retention does not, the settings are unchanged. */
static bool partman_run(PgConn *c, const char *parent, bool retention, Err *err)
{
    const char *p[2] = {parent, NULL};
    if (retention)
        return pg_exec(c, "SELECT partman.run_maintenance($1)", 1, p, NULL, err);
    PgResult *r = NULL;
    if (!pg_exec(c, "SELECT retention FROM partman.part_config WHERE parent_table = $1 FOR UPDATE", 1, p, &r, err))
        return false;
    p[1] = pg_nrows(r) > 0 && !pg_isnull(r, 0, 0) ? pg_get(r, 0, 0) : NULL;
    bool ok = pg_exec(c, "UPDATE partman.part_config SET retention = NULL WHERE parent_table = $1", 1, p, NULL, err) &&
              pg_exec(c, "SELECT partman.run_maintenance($1)", 1, p, NULL, err) &&
              pg_exec(c, "UPDATE partman.part_config SET retention = $2 WHERE parent_table = $1", 2, p, NULL, err);
    pg_result_free(r);
    return ok;
}

typedef struct PartmanTx {
    Table *t;
    bool retention;
} PartmanTx;

static bool partman_body(void *ctx, Err *err)
{
    PartmanTx *x = ctx;
    return partman_run(x->t->m->c, x->t->qname, x->retention, err);
}

/* partman.run_maintenance() for this table alone, compared before and
 * after: what pg_partman made and removed is reported like partmig's own
 * changes.  Until the table's conversion is finalized its retention does
 * not run (the old table is the rollback point and must keep matching). */
bool maint_step_partman(Table *t, Err *err)
{
    Maint *m = t->m;
    bool waits;
    if (!maint_conversion_waits(t, "pg_partman's retention", &waits, err))
        return maint_fail(t, err);
    if (m->o.dry_run) {
        printf("%s: would run partman.run_maintenance('%s')%s\n", t->qname, t->qname,
               waits ? " with its retention held back" : "");
        return true;
    }
    const char **oids, **schemas, **names, **oids2, **schemas2, **names2;
    int64_t *rows, *rows2;
    bool *est, *est2;
    int n = 0, n2 = 0;
    if (!catalog_children_rows(m->c, t->p.schema, t->p.table, m->arena, &oids, &schemas, &names, &rows, &est, &n, err))
        return maint_fail(t, err);
    PartmanTx x = {t, !waits};
    if (!runner_tx(m->c, LOCK_TIMEOUT, m->o.lock_retries, t->qname, "the locks pg_partman's maintenance takes",
                   t->p.schema, t->p.table, partman_body, &x, err))
        return maint_fail(t, err);
    if (!catalog_children_rows(m->c, t->p.schema, t->p.table, m->arena, &oids2, &schemas2, &names2, &rows2, &est2, &n2,
                               err))
        return maint_fail(t, err);
    for (int i = 0; i < n; i++) {
        bool kept = false;
        for (int k = 0; k < n2 && !kept; k++)
            kept = !strcmp(oids[i], oids2[k]);
        if (kept)
            continue;
        const char *now = "";
        if (!catalog_relation_name(m->c, oids[i], m->arena, &now, err))
            return maint_fail(t, err);
        if (*now)
            maint_say(t, "pg_partman detached partition %s (%s%lld rows), kept as %s", names[i], est[i] ? "about " : "",
                      (long long)rows[i], now);
        else
            maint_say(t, "pg_partman dropped partition %s (%s%lld rows)", names[i], est[i] ? "about " : "",
                      (long long)rows[i]);
    }
    for (int k = 0; k < n2; k++) {
        bool old = false;
        for (int i = 0; i < n && !old; i++)
            old = !strcmp(oids[i], oids2[k]);
        if (!old)
            maint_say(t, "pg_partman created partition %s", names2[k]);
    }
    return true;
}
