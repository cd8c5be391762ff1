/* apply_partitions.c: the premake and build_index actions -- the
 * partitions a policy needs now, and every partition's share of a
 * partitioned index (built CONCURRENTLY, then attached). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/buf.h"
#include "../common/quote.h"
#include "../common/sha256.h"
#include "../model/partitions.h"
#include "apply_internal.h"
#include "catalog.h"
#include "premake.h"

/* Whether SPEC's range is taken already: *COVERED names an existing range
 * partition that overlaps it ("" when none), *IN_DEFAULT counts the rows the
 * DEFAULT partition DEF (may be NULL) holds in it -- PostgreSQL refuses to
 * create a partition over rows that sit in DEFAULT. */
static bool range_covered(Apply *a, const Policy *p, const TableInfo *ti, const PartInfo *def,
                          const PartitionSpec *spec, const char **covered, int64_t *in_default, Err *err)
{
    *covered = "";
    *in_default = 0;
    const char *lo, *hi;
    if (!ti->exists || ti->relkind != 'p' || !premake_range_params(p, spec, a->arena, &lo, &hi))
        return true;
    const char *zlo = p->interval.unit == UNIT_INTEGER ? lo : arena_printf(a->arena, "%s %s", lo, p->timezone);
    const char *zhi = p->interval.unit == UNIT_INTEGER ? hi : arena_printf(a->arena, "%s %s", hi, p->timezone);
    if (!catalog_range_overlap(a->c, a->schema, a->table, ti->key_type, p->timezone, lo, hi, a->arena, covered, err))
        return false;
    if (**covered || !def)
        return true;
    return catalog_count_range(a->c, def->schema, def->name, p->column, zlo, zhi, in_default, err);
}

bool apply_premake(Apply *a, Err *err)
{
    const char *json;
    Policy p;
    if (!apply_step_policy(a, &json, &p, err))
        return false;
    TableInfo ti;
    if (!catalog_table_info(a->c, a->schema, a->table, a->arena, &ti, err))
        return false;
    if (!a->dry && (!ti.exists || ti.relkind != 'p')) {
        err_set(err, PM_EDB, "%s: table \"%s\" is not partitioned, cannot add partitions", a->label, a->s->table);
        return err_hint(err, "an ensure_table step must run before premake; check the migration order");
    }
    PartitionSpec *specs;
    int n;
    const char *from, *to;
    if (!premake_layout(a->c, &p, &ti, a->arena, &specs, &n, &from, &to, err))
        return false;
    PartInfo *parts = NULL;
    int nparts = 0;
    if (ti.exists && !catalog_partitions(a->c, a->schema, a->table, a->arena, &parts, &nparts, err))
        return false;
    const PartInfo *def = NULL;
    for (int i = 0; i < nparts; i++)
        if (parts[i].is_default)
            def = &parts[i];
    int added = 0, skipped = 0;
    if (a->dry && p.by == PART_RANGE)
        printf("-- premake window [%s, %s) in %s (server clock now)\n", from, to, p.timezone);
    Buf sql = {0};
    bool ok = false, locked = false;
    /* first, without any lock: which partitions are missing (the DEFAULT
     * count scans; it must not run under the ACCESS EXCLUSIVE lock below) */
    bool *todo = arena_alloc(a->arena, sizeof *todo * (size_t)(n + 1));
    int64_t *list_rows = arena_alloc(a->arena, sizeof *list_rows * (size_t)(n + 1));
    bool *list_move = arena_alloc(a->arena, sizeof *list_move * (size_t)(n + 1));
    int64_t moved_total = 0;
    for (int i = 0; i < n; i++) {
        if (premake_spec_present(&specs[i], parts, nparts) || (a->dry && apply_planned(a, a->schema, specs[i].name)))
            continue;
        if (p.by == PART_LIST && def && strcmp(specs[i].bound_sql, "DEFAULT") != 0) {
            /* a new list value: its rows may sit in DEFAULT, moved below
             * under the lock (a writer may add some until then) */
            if (!premake_list_default_rows(a->c, &p, def, &specs[i], &list_rows[i], err))
                goto done;
            todo[i] = list_move[i] = true;
            continue;
        }
        const char *covered = "";
        int64_t in_default = 0;
        if (!range_covered(a, &p, &ti, def, &specs[i], &covered, &in_default, err))
            goto done;
        if (*covered) {
            /* e.g. the old table an attach conversion made the first partition */
            skipped++;
            if (a->dry)
                printf("-- %s: already covered by partition %s\n", specs[i].name, covered);
            continue;
        }
        if (in_default) {
            /* not an error: the rows are in DEFAULT, where the policy allows
             * them, and said so; the partition waits for the drain */
            skipped++;
            log_msg(LOG_INFO, "%s: partition %s not created: the DEFAULT partition holds %lld row(s) of its range",
                    a->s->table, specs[i].name, (long long)in_default);
            log_hint("run \"partmig maintain --drain-default\" to move them into their own partitions");
            continue;
        }
        todo[i] = true;
    }
    /* then the creates, under one lock */
    for (int i = 0; i < n; i++) {
        if (!todo[i])
            continue;
        if (!a->dry && !locked) {
            /* the lock CREATE ... PARTITION OF takes, once: a savepoint
             * rolled back for a covered range would release it, and each
             * new wait would queue the table's writers behind it again */
            buf_append(&sql, "LOCK TABLE ");
            quote_qualified(&sql, a->schema, a->table);
            buf_append(&sql, " IN ACCESS EXCLUSIVE MODE");
            if (!pg_run(a->c, buf_str(&sql), err))
                goto done;
            locked = true;
        }
        if (a->dry) {
            buf_reset(&sql);
            if (list_rows[i])
                printf("-- DEFAULT holds %lld row(s) of %s's values: create it standalone, move them with DELETE ... "
                       "RETURNING (counted), then ATTACH PARTITION %s\n",
                       (long long)list_rows[i], specs[i].name, specs[i].bound_sql);
            else
                partition_create_sql(&sql, &p, a->table, &specs[i]);
            fputs(buf_str(&sql), stdout);
            added++;
            continue;
        }
        bool created = true;
        const char *overlap;
        if (list_move[i]) {
            int64_t moved = 0;
            if (!premake_list_move_in_tx(a->c, &p, def, &specs[i], a->arena, &moved, err))
                goto done;
            if (moved)
                printf("\n  %s: moved %lld row(s) from DEFAULT partition %s into new partition %s ", a->s->table,
                       (long long)moved, def->name, specs[i].name);
            moved_total += moved;
        } else if (!premake_create_in_tx(a->c, &p, ti.key_type, &specs[i], a->arena, &created, &overlap, err))
            goto done;
        if (!created) {
            skipped++;
            continue;
        }
        added++;
        const char *bound = "";
        if (!catalog_partition_bound(a->c, a->schema, specs[i].name, a->arena, &bound, err) ||
            !ledger_object_add(a->c, a->f->m.version, a->s->number, "partition", a->schema, specs[i].name, bound, err))
            goto done;
    }
    if (a->dry)
        printf(added ? "-- %d partition(s) to add\n"
                     : "-- %d partitions to add: all exist, or an earlier step of this plan makes them\n",
               added);
    else
        a->mode = arena_printf(
            a->arena, "added %d%s%s", added,
            skipped ? arena_printf(a->arena, ", %d covered by existing partitions", skipped) : "",
            moved_total ? arena_printf(a->arena, ", moved %lld row(s) from DEFAULT", (long long)moved_total) : "");
    ok = true;
done:
    buf_free(&sql);
    return ok;
}

/* The name of PARENT_INDEX's index on partition PART: "<part>_<suffix>",
 * suffix being the parent index name without its table prefix; cut to 63
 * bytes with a hash so that names stay unique. */
static const char *child_index_name(Apply *a, const char *table, const char *parent_index, const char *part)
{
    size_t tl = strlen(table);
    const char *suffix =
        !strncmp(parent_index, table, tl) && parent_index[tl] == '_' ? parent_index + tl + 1 : parent_index;
    const char *name = arena_printf(a->arena, "%s_%s", part, suffix);
    if (strlen(name) <= 63)
        return name;
    char hex[SHA256_HEX_LEN + 1];
    sha256_hex(name, strlen(name), hex);
    return arena_printf(a->arena, "%.46s_%.8s_idx", name, hex);
}

/* Give every partition of SCHEMA.TABLE an index attached to PARENT_SCHEMA.PARENT
 * (recursing into sub-partitioned partitions). */
static bool index_partitions(Apply *a, const char *schema, const char *table, const char *parent_schema,
                             const char *parent, const IndexInfo *pinfo, const char *root_table, Err *err)
{
    PartInfo *parts = NULL;
    int n = 0;
    if (!catalog_partitions(a->c, schema, table, a->arena, &parts, &n, err))
        return false;
    Buf sql = {0};
    bool ok = false;
    for (int i = 0; i < n; i++) {
        const PartInfo *pt = &parts[i];
        const char *attached = "";
        bool valid = false;
        if (!catalog_attached_index(a->c, pt->schema, pt->name, parent_schema, parent, a->arena, &attached, &valid,
                                    err))
            goto done;
        if (*attached && valid) {
            /* built before the swap by a conversion: recorded like its own */
            if (!a->dry &&
                !ledger_object_add(a->c, a->f->m.version, a->s->number, "index", pt->schema, attached, "", err))
                goto done;
            continue;
        }
        const char *child = *attached ? attached : child_index_name(a, root_table, parent, pt->name);
        IndexInfo ci;
        if (!catalog_index_info(a->c, pt->schema, child, a->arena, &ci, err))
            goto done;
        const char *own_table = arena_printf(a->arena, "%s.%s", pt->schema, pt->name);
        if (!*attached && ci.exists && (strcmp(ci.table, own_table) != 0 || *ci.parent)) {
            /* the name is taken (e.g. PostgreSQL named another index so): a hashed one */
            char hex[SHA256_HEX_LEN + 1];
            const char *key = arena_printf(a->arena, "%s.%s", parent, pt->name);
            sha256_hex(key, strlen(key), hex);
            child = arena_printf(a->arena, "%.46s_%.8s_idx", pt->name, hex);
            if (!catalog_index_info(a->c, pt->schema, child, a->arena, &ci, err))
                goto done;
        }
        const char *label = arena_printf(a->arena, "%s (index on %s)", a->label, pt->name);
        if (pt->relkind == 'p') {
            buf_reset(&sql);
            catalog_sql_create_index(&sql, pinfo->unique, false, child, true, pt->schema, pt->name, pinfo->using);
            if (a->dry)
                apply_out_sql(buf_str(&sql));
            else if (!runner_stmt(a->c, a->lock_timeout, a->o->lock_retries, label, pt->schema, pt->name, buf_str(&sql),
                                  err))
                goto done;
            if (!index_partitions(a, pt->schema, pt->name, pt->schema, child, pinfo, root_table, err))
                goto done;
        } else {
            if (ci.exists && !ci.valid) {
                /* left behind by an interrupted CREATE INDEX CONCURRENTLY */
                buf_reset(&sql);
                catalog_sql_drop_index(&sql, true, pt->schema, child);
                if (a->dry)
                    apply_out_sql(buf_str(&sql));
                else if (!runner_stmt(a->c, a->lock_timeout, a->o->lock_retries, label, pt->schema, pt->name,
                                      buf_str(&sql), err))
                    goto done;
                ci.exists = false;
            }
            /* CREATE INDEX CONCURRENTLY waits out every older transaction;
             * when that wait times out it leaves an INVALID index under the
             * name, which IF NOT EXISTS would take for done.  Its waits hold
             * up no writer (SHARE UPDATE EXCLUSIVE), so each build may wait
             * longer than the short first tries of other locks: the file's
             * lock_timeout, doubling per build; a timed-out build's leftover
             * is dropped before the next */
            int wait_ms = lock_policy_parse_ms(a->lock_timeout);
            for (int build = 1; !ci.exists || !*attached; build++, wait_ms = wait_ms < 30000 ? wait_ms * 2 : 60000) {
                buf_reset(&sql);
                catalog_sql_create_index(&sql, pinfo->unique, true, child, false, pt->schema, pt->name, pinfo->using);
                if (a->dry) {
                    apply_out_sql(buf_str(&sql));
                    break;
                }
                char lt[32];
                snprintf(lt, sizeof lt, "%dms", wait_ms);
                const char *ltp[] = {lt};
                if (!pg_exec(a->c, "SELECT pg_catalog.set_config('lock_timeout', $1, false)", 1, ltp, NULL, err))
                    goto done;
                bool built = pg_exec_script(a->c, buf_str(&sql), err);
                if (!built && strcmp(pg_last_sqlstate(a->c), "55P03") != 0)
                    goto done;
                if (!catalog_index_info(a->c, pt->schema, child, a->arena, &ci, err))
                    goto done;
                if (built && ci.exists && ci.valid)
                    break;
                if (build == 5) {
                    err_set(err, PM_EDB,
                            "%s: index \"%s\" could not be built: older transactions outlasted %s five times", label,
                            child, lt);
                    err_hint(err, "look for long transactions (pg_stat_activity, xact_start), then run apply again");
                    goto done;
                }
                log_msg(LOG_INFO, "%s: older transactions outlasted %s; building index \"%s\" again", label, lt, child);
                if (ci.exists) {
                    buf_reset(&sql);
                    catalog_sql_drop_index(&sql, true, pt->schema, child);
                    if (!runner_stmt(a->c, a->lock_timeout, a->o->lock_retries, label, pt->schema, pt->name,
                                     buf_str(&sql), err))
                        goto done;
                }
                ci.exists = false;
            }
        }
        if (!*attached) {
            buf_reset(&sql);
            catalog_sql_attach_index(&sql, parent_schema, parent, pt->schema, child);
            if (a->dry)
                apply_out_sql(buf_str(&sql));
            else if (!runner_stmt(a->c, a->lock_timeout, a->o->lock_retries, label, pt->schema, pt->name, buf_str(&sql),
                                  err))
                goto done;
        }
        if (!a->dry && !ledger_object_add(a->c, a->f->m.version, a->s->number, "index", pt->schema, child, "", err))
            goto done;
    }
    ok = true;
done:
    buf_free(&sql);
    return ok;
}

bool apply_build_index(Apply *a, Err *err)
{
    const char *index = step_arg(a->s, "index");
    if (!index)
        return err_at(err, PM_EINPUT, a->f->path, 0, "step %d: build_index needs index=NAME", a->s->number);
    IndexInfo info;
    if (!catalog_index_info(a->c, a->schema, index, a->arena, &info, err))
        return false;
    if (!info.exists) {
        if (a->dry) {
            printf("-- per partition of %s: CREATE INDEX CONCURRENTLY IF NOT EXISTS, then ALTER INDEX \"%s\".\"%s\" "
                   "ATTACH PARTITION (the parent index is created by an earlier step)\n",
                   a->s->table, a->schema, index);
            return true;
        }
        err_set(err, PM_EDB, "%s: index \"%s.%s\" does not exist", a->label, a->schema, index);
        return err_hint(err, "an earlier step creates it with CREATE INDEX ... ON ONLY; check the migration");
    }
    if (!info.partitioned)
        return err_set(err, PM_EDB, "%s: index \"%s.%s\" is not on a partitioned table", a->label, a->schema, index);
    if (info.valid && !a->dry) {
        /* valid: every partition has its index, attached (a copy conversion
         * builds the policy's before its swap); recorded in one statement */
        const char *p[] = {arena_printf(a->arena, "%d", a->f->m.version), arena_printf(a->arena, "%d", a->s->number),
                           a->schema, index};
        return pg_exec(
            a->c,
            "INSERT INTO partmig.step_objects (version, step, kind, schema_name, object_name) SELECT"
            " $1::int, $2::int, 'index', n.nspname, c.relname FROM pg_catalog.pg_partition_tree("
            "pg_catalog.format('%I.%I', $3::text, $4::text)::pg_catalog.regclass) t JOIN pg_catalog.pg_class"
            " c ON c.oid = t.relid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE t.level > 0"
            " ON CONFLICT DO NOTHING",
            4, p, NULL, err);
    }
    return index_partitions(a, a->schema, a->table, a->schema, index, &info, a->table, err);
}
