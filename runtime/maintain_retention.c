/* maintain_retention.c: maintain's retention (detach, then drop, keep,
 * archive or dump each partition past `keep`; finishing what a killed run
 * left) and tiering (old partitions to another tablespace). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/buf.h"
#include "../common/quote.h"
#include "maintain_internal.h"

/* ---- retention ---- */

/* Statements dropping every index of SCHEMA.NAME (the table as named in
 * the same transaction: IN_SCHEMA), appended to B; constraint-backed ones
 * go with their constraint. */
static bool drop_indexes_sql(Table *t, const char *schema, const char *name, const char *in_schema, Buf *b, Err *err)
{
    const char **ix, **con;
    int n;
    if (!catalog_indexes(t->m->c, schema, name, t->m->arena, &ix, &con, &n, err))
        return false;
    for (int i = 0; i < n; i++) {
        if (*con[i]) {
            buf_append(b, "ALTER TABLE ");
            quote_qualified(b, in_schema, name);
            buf_append(b, " DROP CONSTRAINT ");
            quote_ident(b, con[i]);
        } else
            catalog_sql_drop_index(b, false, in_schema, ix[i]);
        buf_append(b, ";\n");
    }
    return true;
}

/* The detached table SCHEMA.NAME (once partition RANGE, ROWS rows) gets what
 * the policy's retention says; the retention record goes with it. */
static bool dispose(Table *t, const char *schema, const char *name, const char *range, int64_t rows, Err *err)
{
    const Retention *rt = &t->p.retention;
    Arena *a = t->m->arena;
    Tx x = {0};
    Buf sql = {0};
    bool ok = false;
    x.forget_schema = schema;
    x.forget_name = name;
    const char *label = arena_printf(a, "%s.%s", schema, name);
    if (rt->archive == ARCHIVE_SCHEMA) {
        /* an archive schema someone else owns could drop or read the rows
         * moved there: it must be partmig's role's or a superuser's */
        if (!catalog_check_schema_trust(t->m->c, rt->archive_target, "the archive", err))
            goto done;
        buf_append(&sql, "CREATE SCHEMA IF NOT EXISTS ");
        quote_ident(&sql, rt->archive_target);
        buf_append(&sql, ";\n");
        catalog_sql_set_schema(&sql, schema, name, rt->archive_target);
        buf_append(&sql, ";\n");
        /* the indexes moved with the table */
        if (!rt->keep_index && !drop_indexes_sql(t, schema, name, rt->archive_target, &sql, err))
            goto done;
        x.script = buf_str(&sql);
        if (!maint_run_tx(t, &x, label, "ACCESS EXCLUSIVE on the detached table", err))
            goto done;
        maint_say(t, "detached partition %s %s (%lld rows), moved to schema %s%s", name, range, (long long)rows,
                  rt->archive_target, rt->keep_index ? "" : " without its indexes");
    } else if (rt->archive == ARCHIVE_DUMP) {
        x.dump_schema = schema;
        x.dump_table = name;
        x.dump_dir = rt->archive_target;
        catalog_sql_drop_table(&sql, schema, name);
        x.script = buf_str(&sql);
        bool dumped = maint_run_tx(t, &x, label, "ACCESS EXCLUSIVE on the detached table", err);
        const char *path = x.dump ? arena_strdup(a, dump_archive_path(x.dump)) : "";
        dump_archive_close(x.dump);
        if (!dumped)
            goto done;
        maint_say(t, "dumped partition %s %s to %s (%lld rows, verified), dropped it", name, range, path,
                  (long long)x.rows);
    } else if (rt->keep_table) {
        if (!rt->keep_index && !drop_indexes_sql(t, schema, name, schema, &sql, err))
            goto done;
        x.script = sql.len ? buf_str(&sql) : NULL;
        if (!maint_run_tx(t, &x, label, "ACCESS EXCLUSIVE on the detached table", err))
            goto done;
        maint_say(t, "detached partition %s %s (%lld rows), kept as table %s.%s%s", name, range, (long long)rows,
                  schema, name, rt->keep_index ? "" : " without its indexes");
    } else {
        catalog_sql_drop_table(&sql, schema, name);
        x.script = buf_str(&sql);
        if (!maint_run_tx(t, &x, label, "ACCESS EXCLUSIVE on the detached table", err))
            goto done;
        maint_say(t, "dropped partition %s %s (%lld rows)", name, range, (long long)rows);
    }
    ok = true;
done:
    buf_free(&sql);
    return ok;
}

/* A removal's printed action under --dry-run. */
static const char *dispose_words(const Table *t)
{
    const Retention *rt = &t->p.retention;
    if (rt->archive == ARCHIVE_SCHEMA)
        return arena_printf(t->m->arena, "and move it to schema %s", rt->archive_target);
    if (rt->archive == ARCHIVE_DUMP)
        return arena_printf(t->m->arena, "dump it to %s, verify the dump and drop it", rt->archive_target);
    if (rt->keep_table)
        return rt->keep_index ? "and keep it as a table" : "and keep it as a table without its indexes";
    return "and drop it";
}

static bool pending_ready(Maint *m, Err *err)
{
    if (!m->pending_ready && !ledger_retention_ensure(m->c, err))
        return false;
    m->pending_ready = true;
    return true;
}

static bool remove_partition(Table *t, const PartInfo *pi, bool has_default, Err *err)
{
    Maint *m = t->m;
    int64_t rows = 0;
    const char *range = maint_part_range(t, pi);
    if (!catalog_count_rows(m->c, pi->schema, pi->name, &rows, err))
        return false;
    /* a name unfit for a file, or an unsafe directory: the partition stays */
    if (t->p.retention.archive == ARCHIVE_DUMP &&
        !dump_check_target(t->p.retention.archive_target, pi->schema, pi->name, err))
        return false;
    /* an archive schema in untrusted hands: checked before the detach too */
    if (t->p.retention.archive == ARCHIVE_SCHEMA &&
        !catalog_check_schema_trust(m->c, t->p.retention.archive_target, "the archive", err))
        return false;
    if (m->o.dry_run) {
        maint_say(t, "detach partition %s %s (%lld rows)%s %s", pi->name, range, (long long)rows,
                  has_default ? "" : " concurrently", dispose_words(t));
        return true;
    }
    if (!pending_ready(m, err) || !ledger_retention_add(m->c, t->qname, pi->schema, pi->name, range, err))
        return false;
    Buf sql = {0};
    bool ok = false;
    const char *label = arena_printf(m->arena, "%s.%s", pi->schema, pi->name);
    if (has_default) {
        /* DETACH CONCURRENTLY is not allowed while the table has a DEFAULT partition */
        catalog_sql_detach(&sql, t->p.schema, t->p.table, pi->schema, pi->name, "");
        Tx x = {.script = buf_str(&sql)};
        if (!maint_run_tx(t, &x, label, "ACCESS EXCLUSIVE on the table", err))
            goto done;
    } else {
        catalog_sql_detach(&sql, t->p.schema, t->p.table, pi->schema, pi->name, "CONCURRENTLY");
        if (!maint_run_stmt(t, label, buf_str(&sql), err)) {
            /* cancelled while waiting for older snapshots: the detach is
             * pending, FINALIZE completes it */
            const char **pending;
            int n;
            Err ignored;
            bool left = false;
            if (catalog_detach_pending(m->c, t->p.schema, t->p.table, m->arena, &pending, &n, &ignored))
                for (int i = 0; i < n; i++)
                    left = left || !strcmp(pending[i], pi->name);
            if (!left)
                goto done;
            err_clear(err);
            buf_reset(&sql);
            catalog_sql_detach(&sql, t->p.schema, t->p.table, pi->schema, pi->name, "FINALIZE");
            if (!maint_run_stmt(t, label, buf_str(&sql), err))
                goto done;
        }
    }
    ok = dispose(t, pi->schema, pi->name, range, rows, err);
done:
    buf_free(&sql);
    return ok;
}

bool maint_step_retention(Table *t, Err *err)
{
    Maint *m = t->m;
    if (!maint_refresh(t, err))
        return maint_fail(t, err);
    bool waits;
    if (!maint_conversion_waits(t, "retention", &waits, err))
        return maint_fail(t, err);
    if (waits)
        return true;
    const char *cut = maint_cutoff(t, t->p.retention.keep, NULL);
    int newest = maint_newest_part(t);
    bool has_default = maint_default_part(t) != NULL;
    bool ok = true;
    for (int i = 0; i < t->nparts; i++) {
        const PartInfo *pi = &t->parts[i];
        bool due = false;
        if (i == newest || pi->is_default)
            continue;
        if (!maint_upper_at_or_before(t, pi, cut, &due, err)) {
            ok = maint_fail(t, err);
            continue;
        }
        if (!due)
            continue;
        const char *fk = "";
        if (!catalog_fk_reference(m->c, pi->schema, pi->name, t->p.schema, t->p.table, m->arena, &fk, err)) {
            ok = maint_fail(t, err);
            continue;
        }
        if (*fk) {
            fflush(stdout);
            log_msg(LOG_INFO, "%s: partition %s %s is due for retention but foreign key %s references %s: kept",
                    t->qname, pi->name, maint_part_range(t, pi), fk, pi->name);
            log_hint("drop or re-point the foreign key, or detach the partition by hand");
            continue;
        }
        if (!remove_partition(t, pi, has_default, err))
            ok = maint_fail(t, err);
    }
    return ok;
}

/* Finish what a killed run left: pending detaches, recorded removals. */
bool maint_step_pending(Table *t, Err *err)
{
    Maint *m = t->m;
    const char **names;
    int n;
    bool ok = true;
    if (!catalog_detach_pending(m->c, t->p.schema, t->p.table, m->arena, &names, &n, err))
        return maint_fail(t, err);
    for (int i = 0; i < n; i++) {
        Buf sql = {0};
        catalog_sql_detach(&sql, t->p.schema, t->p.table, t->p.schema, names[i], "FINALIZE");
        if (m->o.dry_run)
            maint_say(t, "finish the interrupted detach of partition %s (DETACH ... FINALIZE)", names[i]);
        else if (maint_run_stmt(t, names[i], buf_str(&sql), err))
            maint_say(t, "finished the interrupted detach of partition %s (DETACH ... FINALIZE)", names[i]);
        else
            ok = maint_fail(t, err);
        buf_free(&sql);
    }
    bool exists = false;
    if (!ledger_retention_exists(m->c, &exists, err))
        return maint_fail(t, err);
    if (!exists)
        return ok;
    const char **schemas, **bounds;
    if (!ledger_retention_pending(m->c, t->qname, m->arena, &schemas, &names, &bounds, &n, err))
        return maint_fail(t, err);
    for (int i = 0; i < n; i++) {
        bool present = false, partition = false;
        int64_t rows = 0;
        if (!catalog_relation_state(m->c, schemas[i], names[i], &present, &partition, err)) {
            ok = maint_fail(t, err);
            continue;
        }
        if (!present || partition) {
            /* gone, or the detach never happened: retention decides afresh */
            if (!m->o.dry_run && !ledger_retention_finish(m->c, schemas[i], names[i], err))
                ok = maint_fail(t, err);
            continue;
        }
        if (!catalog_count_rows(m->c, schemas[i], names[i], &rows, err)) {
            ok = maint_fail(t, err);
            continue;
        }
        if (m->o.dry_run)
            maint_say(t, "finish the removal of detached partition %s %s (%lld rows) %s", names[i], bounds[i],
                      (long long)rows, dispose_words(t));
        else if (!dispose(t, schemas[i], names[i], bounds[i], rows, err))
            ok = maint_fail(t, err);
    }
    return ok;
}

/* ---- tiering ---- */

typedef struct Tier {
    const TierRule *rule;
    WallTime cut;
    const char *cut_text;
    int exists; /* -1 unknown, 0 no, 1 yes */
} Tier;

static bool move_to_tablespace(Table *t, const PartInfo *pi, Tier *tier, Err *err)
{
    Maint *m = t->m;
    const char *ts = tier->rule->tablespace;
    const char *one_schema[1] = {pi->schema}, *one_name[1] = {pi->name};
    const char **schemas = one_schema, **names = one_name;
    int n = 1;
    if (pi->relkind == 'p' && !catalog_leaves(m->c, pi->schema, pi->name, m->arena, &schemas, &names, &n, err))
        return false;
    for (int i = 0; i < n; i++) {
        const char *cur = "";
        if (!catalog_tablespace_of(m->c, schemas[i], names[i], m->arena, &cur, err))
            return false;
        if (!strcmp(cur, ts))
            continue;
        if (tier->exists < 0) {
            bool yes = false;
            if (!catalog_tablespace_exists(m->c, ts, &yes, err))
                return false;
            tier->exists = yes;
        }
        if (!tier->exists) {
            err_set(err, PM_EDB, "tablespace \"%s\" does not exist: partitions older than the tiering rule stay", ts);
            return err_hint(err, "create it (CREATE TABLESPACE %s LOCATION '...') or change the policy's tiering", ts);
        }
        const char *range = maint_part_range(t, pi);
        if (m->o.dry_run) {
            maint_say(t, "move partition %s %s from tablespace %s to %s", names[i], range, cur, ts);
            continue;
        }
        Buf sql = {0};
        catalog_sql_set_tablespace(&sql, schemas[i], names[i], ts);
        Tx x = {.script = buf_str(&sql)};
        bool ok = maint_run_tx(t, &x, arena_printf(m->arena, "%s.%s", schemas[i], names[i]),
                               "ACCESS EXCLUSIVE on the partition", err);
        buf_free(&sql);
        if (!ok)
            return false;
        maint_say(t, "moved partition %s %s from tablespace %s to %s", names[i], range, cur, ts);
    }
    return true;
}

bool maint_step_tiering(Table *t, Err *err)
{
    Maint *m = t->m;
    if (!maint_refresh(t, err))
        return maint_fail(t, err);
    Tier *tiers = arena_alloc(m->arena, sizeof *tiers * (size_t)t->p.ntiers);
    for (int i = 0; i < t->p.ntiers; i++) {
        tiers[i].rule = &t->p.tiers[i];
        tiers[i].cut_text = maint_cutoff(t, t->p.tiers[i].older_than, &tiers[i].cut);
        tiers[i].exists = -1;
    }
    /* oldest cut-off first: a partition goes to the coldest rule it passes */
    for (int i = 1; i < t->p.ntiers; i++)
        for (int j = i; j > 0 && walltime_cmp(tiers[j].cut, tiers[j - 1].cut) < 0; j--) {
            Tier tmp = tiers[j];
            tiers[j] = tiers[j - 1];
            tiers[j - 1] = tmp;
        }
    int newest = maint_newest_part(t);
    bool ok = true, failed_tablespace = false;
    for (int i = 0; i < t->nparts && !failed_tablespace; i++) {
        const PartInfo *pi = &t->parts[i];
        if (i == newest || pi->is_default)
            continue;
        for (int k = 0; k < t->p.ntiers; k++) {
            bool due = false;
            if (!maint_upper_at_or_before(t, pi, tiers[k].cut_text, &due, err)) {
                ok = maint_fail(t, err);
                break;
            }
            if (!due)
                continue;
            if (!move_to_tablespace(t, pi, &tiers[k], err)) {
                ok = maint_fail(t, err);
                failed_tablespace = tiers[k].exists == 0; /* said once is enough */
            }
            break;
        }
    }
    return ok;
}
