/* apply.c: partmig plan and apply -- the step executor and its actions
 * (sql, ensure_table, premake, build_index, register, unregister). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../commands.h"
#include "../common/buf.h"
#include "../common/quote.h"
#include "../model/partitions.h"
#include "../common/sqlparse.h"
#include "catalog.h"
#include "convert.h"
#include "ledger.h"
#include "migdir.h"
#include "premake.h"
#include "runner.h"
#include "workload.h"

static const char *const apply_usage =
    "usage: partmig apply [-d DIR] [--db URL] [--to VERSION] [--dry-run] [--jobs N]\n"
    "                     [--batch-size N] [--sleep MS] [--wait SECONDS] [--lock-retries N]\n"
    "                     [--require-pruning]\n"
    "\n"
    "Apply the pending migrations of DIR (default migrations/) step by step.\n"
    "Checks partmig.sum and every applied file's checksum against the ledger\n"
    "first.  Each transactional step commits together with its ledger row; a\n"
    "rerun after any failure or kill continues where the last one stopped.\n"
    "\n"
    "  -d, --dir DIR        migrations directory (default migrations)\n"
    "      --db URL         connection URL (else PARTMIG_DATABASE_URL, else PG* env);\n"
    "                       others see it in ps: give a password through\n"
    "                       PARTMIG_DATABASE_URL, PGPASSWORD or ~/.pgpass instead\n"
    "      --to VERSION     apply versions up to VERSION only\n"
    "      --dry-run        print what would run (like \"partmig plan\"), change nothing\n"
    "      --jobs N         parallel copy jobs when converting a table\n"
    "      --batch-size N   rows per copy batch when converting a table\n"
    "      --sleep MS       pause between copy batches\n"
    "      --wait SECONDS   wait that long for another runner to finish (default 0)\n"
    "      --lock-retries N tries per step on lock timeout (default 8)\n"
    "      --require-pruning\n"
    "                       refuse a conversion (exit 2, nothing changed) when a\n"
    "                       frequent statement on the table (pg_stat_statements)\n"
    "                       cannot prune partitions, or when that cannot be checked\n"
    "\n"
    "exit codes: 0 applied (or nothing to do), 1 database error, 2 bad or tampered\n"
    "migrations, 3 another runner holds the lock\n";

static const char *const plan_usage = "usage: partmig plan [-d DIR] [--db URL] [--to VERSION] [--json]\n"
                                      "                    [--require-pruning]\n"
                                      "\n"
                                      "Print exactly what \"partmig apply\" would run against the database now --\n"
                                      "each pending step's SQL, with the partitions, indexes and registrations the\n"
                                      "runtime computes at apply time -- and change nothing.\n"
                                      "\n"
                                      "  -d, --dir DIR      migrations directory (default migrations)\n"
                                      "      --db URL       connection URL (else PARTMIG_DATABASE_URL, else PG* env);\n"
                                      "                     others see it in ps: give a password through\n"
                                      "                     PARTMIG_DATABASE_URL, PGPASSWORD or ~/.pgpass instead\n"
                                      "      --to VERSION   plan versions up to VERSION only\n"
                                      "      --json         a JSON array instead, one object per step: version,\n"
                                      "                     file, step, action, title, table, transactional, lock\n"
                                      "                     and sql (what apply would run, as the text prints it);\n"
                                      "                     a conversion step adds workload (the workload check)\n"
                                      "      --require-pruning\n"
                                      "                     as apply --require-pruning: say whether the conversion\n"
                                      "                     would be refused for statements that cannot prune\n"
                                      "\n"
                                      "exit codes: 0 printed, 1 database error, 2 bad or tampered migrations\n";

typedef struct Apply {
    RunOptions *o;
    Arena *arena;
    PgConn *c;
    MigDir dir;
    Ledger ledger;
    bool dry;
    /* the step being run */
    const MigFile *f;
    const Step *s;
    const char *label;        /* "0001:2" */
    const char *lock_timeout; /* the file's preamble value */
    const char *schema, *table;
    const char *mode; /* ensure_table: recorded as detail.mode */
    /* plan / --dry-run: "schema.name" of the partitions earlier steps would
     * create, so premake does not list them a second time */
    const char **planned;
    int nplanned, capplanned;
    json_t *json;             /* plan --json: the steps, else NULL */
    WorkloadReport *workload; /* plan --json: the workload check of the current step */
} Apply;

/* ---- helpers ---- */

/* plan: remember the partitions the SQL of the current step would create. */
static bool note_planned_partitions(Apply *a, Err *err)
{
    SqlScript *script = NULL;
    if (!a->s->sql || !sql_script_parse(a->s->sql, a->f->path, 1, &script, err))
        return !a->s->sql;
    for (int i = 0; i < sql_script_count(script); i++) {
        const char *schema, *name, *pschema, *parent;
        if (!sql_partition_of(sql_script_get(script, i), &schema, &name, &pschema, &parent))
            continue;
        if (a->nplanned == a->capplanned) {
            a->capplanned = a->capplanned ? a->capplanned * 2 : 16;
            a->planned = arena_grow(a->arena, (void *)a->planned, (size_t)a->nplanned, (size_t)a->capplanned,
                                    sizeof *a->planned);
        }
        a->planned[a->nplanned++] = arena_printf(a->arena, "%s.%s", schema, name);
    }
    sql_script_free(script);
    return true;
}

static bool planned(const Apply *a, const char *schema, const char *name)
{
    for (int i = 0; i < a->nplanned; i++) {
        const char *dot = strchr(a->planned[i], '.');
        if (dot && !strncmp(a->planned[i], schema, (size_t)(dot - a->planned[i])) &&
            strlen(schema) == (size_t)(dot - a->planned[i]) && !strcmp(dot + 1, name))
            return true;
    }
    return false;
}

static void out_sql(const char *sql)
{
    size_t n = strlen(sql);
    fputs(sql, stdout);
    while (n && (sql[n - 1] == ' ' || sql[n - 1] == '\n'))
        n--;
    if (n && sql[n - 1] != ';')
        fputs(";", stdout);
    fputs("\n", stdout);
}

/* The step's policy (as of its version); error when the files have none. */
static bool step_policy(Apply *a, const char **json, Policy *p, Err *err)
{
    if (!a->s->table)
        return err_at(err, PM_EINPUT, a->f->path, 0, "step %d (%s) names no table", a->s->number,
                      step_action_name(a->s->action));
    if (!migdir_policy(&a->dir, a->s->table, a->f->m.version, a->arena, json, p, err))
        return false;
    if (!*json) {
        err_at(err, PM_EINPUT, a->f->path, 0, "step %d: no policy for \"%s\" in this or an earlier migration",
               a->s->number, a->s->table);
        return err_hint(err, "the file has no \"-- partmig:policy\" line for the table; recompile the policies");
    }
    return true;
}

/* The existing range partition that overlaps SPEC ("" when none). */
/* Whether SPEC's range is taken already: *COVERED names an existing range
 * partition that overlaps it ("" when none), *IN_DEFAULT counts the rows the
 * DEFAULT partition DEF (may be NULL) holds in it -- PostgreSQL refuses to
 * create a partition over rows that sit in DEFAULT. */
static bool range_covered(Apply *a, const Policy *p, const TableInfo *ti, const PartInfo *def,
                          const PartitionSpec *spec, const char **covered, int64_t *in_default, Err *err)
{
    *covered = "";
    *in_default = 0;
    if (!ti->exists || ti->relkind != 'p' || p->by != PART_RANGE ||
        strncmp(spec->bound_sql, "FOR VALUES FROM", 15) != 0)
        return true;
    const char *lo, *hi, *zlo, *zhi;
    if (p->interval.unit == UNIT_INTEGER) {
        zlo = lo = arena_printf(a->arena, "%lld", (long long)spec->lower_int);
        zhi = hi = arena_printf(a->arena, "%lld", (long long)spec->upper_int);
    } else {
        Buf b = {0};
        walltime_format(&b, spec->lower);
        lo = arena_strdup(a->arena, buf_str(&b));
        buf_reset(&b);
        walltime_format(&b, spec->upper);
        hi = arena_strdup(a->arena, buf_str(&b));
        buf_free(&b);
        zlo = arena_printf(a->arena, "%s %s", lo, p->timezone);
        zhi = arena_printf(a->arena, "%s %s", hi, p->timezone);
    }
    if (!catalog_range_overlap(a->c, a->schema, a->table, ti->key_type, p->timezone, lo, hi, a->arena, covered, err))
        return false;
    if (**covered || !def)
        return true;
    return catalog_count_range(a->c, def->schema, def->name, p->column, zlo, zhi, in_default, err);
}

static bool do_premake(Apply *a, Err *err)
{
    const char *json;
    Policy p;
    if (!step_policy(a, &json, &p, err))
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
        if (premake_spec_present(&specs[i], parts, nparts) || (a->dry && planned(a, a->schema, specs[i].name)))
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
            fprintf(stderr,
                    "partmig: %s: partition %s not created: the DEFAULT partition holds %lld row(s) of its range\n"
                    "hint: run \"partmig maintain --drain-default\" to move them into their own partitions\n",
                    a->s->table, specs[i].name, (long long)in_default);
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
        } else if (!premake_create_in_tx(a->c, &p, &specs[i], a->arena, &created, &overlap, err))
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

/* ---- ensure_table ---- */

static char strategy_of(PartBy by)
{
    return by == PART_LIST ? 'l' : by == PART_HASH ? 'h' : 'r';
}

#define CONVERT_LOCK_MS_MAX 500

/* The file's lock_timeout ("5s", "500ms", "1min") in milliseconds; 0 if unreadable. */
static int lock_timeout_ms(const char *text)
{
    int ms = lock_policy_parse_ms(text);
    return ms > 0 ? ms : 0;
}

static ConvertOptions convert_options(const Apply *a, const Policy *p)
{
    ConvertOptions co = {0};
    co.version = a->f->m.version;
    co.step = a->s->number;
    co.jobs = a->o->jobs ? a->o->jobs : p->existing.jobs;
    co.batch_size = a->o->batch_size ? a->o->batch_size : p->existing.batch_size;
    co.sleep_ms = a->o->sleep_ms;
    co.dry_run = a->dry;
    co.db_url = a->o->db;
    /* writers queue behind a waiting ACCESS EXCLUSIVE request: however long
     * the file allows, the swap waits at most CONVERT_LOCK_MS_MAX per try */
    co.lock_timeout_ms = lock_timeout_ms(a->lock_timeout);
    if (co.lock_timeout_ms <= 0 || co.lock_timeout_ms > CONVERT_LOCK_MS_MAX)
        co.lock_timeout_ms = CONVERT_LOCK_MS_MAX;
    co.lock_retries = a->o->lock_retries;
    co.require_pruning = a->o->require_pruning;
    co.workload = a->workload;
    return co;
}

typedef enum { ENSURE_CREATE, ENSURE_ADOPT, ENSURE_CONVERT } EnsureKind;

/* An ensure_table step a policy's layout change compiled (relayout=yes). */
static bool is_relayout(const Step *s)
{
    const char *v = s->action == STEP_ENSURE_TABLE ? step_arg(s, "relayout") : NULL;
    return v && !strcmp(v, "yes");
}

/* What to do when a relayout meets a table an earlier version partitioned. */
static const char *relayout_recipe(const Apply *a)
{
    const char *t = strchr(a->s->table, '.') ? strchr(a->s->table, '.') + 1 : a->s->table;
    return arena_printf(a->arena,
                        "put those keys back in the policy as the earlier version has them, then run \"partmig "
                        "compile\" and \"partmig apply\" (this version is then superseded); a new layout needs a "
                        "new table: declare partition \"%s_new\" with it, apply, copy the rows, swap the names in "
                        "one transaction, then \"partmig compile --forget %s\" the old policy",
                        t, a->s->table);
}

/* The policy that made the table as it is here: that of the newest earlier
 * version whose ensure_table of it completed (not superseded); else the
 * registered one; *JSON NULL when neither. */
static bool made_by(Apply *a, const char **json, Policy *p, int *version, Err *err)
{
    *json = NULL;
    *version = 0;
    for (int i = a->dir.n - 1; i >= 0; i--) {
        const MigFile *f = &a->dir.files[i];
        if (f->m.version >= a->f->m.version)
            continue;
        for (int k = 0; k < f->m.nsteps; k++) {
            const Step *s = &f->m.steps[k];
            if (s->action != STEP_ENSURE_TABLE || !s->table || strcmp(s->table, a->s->table) != 0)
                continue;
            const LedgerStep *ls = ledger_step(&a->ledger, f->m.version, s->number);
            if (!ls || strcmp(ls->state, "done") != 0 || !strncmp(ls->mode, "superseded", 10))
                continue;
            *version = f->m.version;
            return migdir_policy(&a->dir, a->s->table, f->m.version, a->arena, json, p, err);
        }
    }
    const char *registered = "";
    if (!ledger_policy_get(a->c, a->s->table, a->arena, &registered, err))
        return false;
    if (!*registered)
        return true;
    *json = registered;
    return policy_from_json(registered, a->arena, p, err);
}

static const ListPartition *find_list(const Policy *p, const char *name)
{
    for (int i = 0; i < p->nlists; i++)
        if (!strcmp(p->lists[i].name, name))
            return &p->lists[i];
    return NULL;
}

static bool same_values(const StrList *x, const StrList *y)
{
    if (x->n != y->n)
        return false;
    for (int i = 0; i < x->n; i++)
        if (strcmp(x->items[i], y->items[i]) != 0)
            return false;
    return true;
}

/* A relayout of a table partitioned here already: only the online part.
 * New list partitions and DEFAULT on are the premake step's (it moves
 * DEFAULT rows of new values); DEFAULT off is done here when DEFAULT is
 * empty; any other layout change is refused with a recipe. */
static bool relayout_in_place(Apply *a, const Policy *p, Err *err)
{
    static const char *const fixed[] = {"backend", "by",       "column", "interval", "modulus",     "subpartition",
                                        "start",   "timezone", "naming", "columns",  "primary_key", NULL};
    const char *json;
    Policy old;
    int version;
    if (!made_by(a, &json, &old, &version, err))
        return false;
    const char *by = version ? arena_printf(a->arena, "version %04d", version) : "its registered policy";
    a->mode = "adopted (relayout: nothing to change in place)";
    if (!json)
        return true;
    const char *changed = policy_changed_among(&old, p, fixed, a->arena);
    if (*changed) {
        err_set(err, PM_EINPUT, "%s: table \"%s\" is partitioned here already (by %s); its %s cannot change in place",
                a->label, a->s->table, by, changed);
        return err_hint(err, "%s", relayout_recipe(a));
    }
    for (int i = 0; i < old.nlists; i++) {
        const ListPartition *now = find_list(p, old.lists[i].name);
        if (!now || !same_values(&now->values, &old.lists[i].values)) {
            err_set(err, PM_EINPUT,
                    "%s: table \"%s\": list partition \"%s\" %s; partmig adds list partitions in place, it does "
                    "not change or remove them",
                    a->label, a->s->table, old.lists[i].name, now ? "has other values now" : "was removed");
            return err_hint(err,
                            "keep \"%s\" as %s has it and put new values in a new list entry ({ name = \"...\", "
                            "values = { ... } }): partmig creates it and moves its rows out of DEFAULT; then "
                            "\"partmig compile\" and \"partmig apply\"",
                            old.lists[i].name, by);
        }
    }
    int added = 0;
    for (int i = 0; i < p->nlists; i++)
        added += find_list(&old, p->lists[i].name) == NULL;
    if (old.default_partition && !p->default_partition) {
        PartInfo *parts = NULL;
        int nparts = 0;
        if (!catalog_partitions(a->c, a->schema, a->table, a->arena, &parts, &nparts, err))
            return false;
        for (int i = 0; i < nparts; i++) {
            if (!parts[i].is_default)
                continue;
            if (a->dry) {
                printf("-- drop the DEFAULT partition %s when it holds no row (checked under the table's lock)\n",
                       parts[i].name);
            } else if (!premake_drop_default_in_tx(a->c, p, &parts[i], err)) {
                return false;
            }
        }
        a->mode = "adopted (relayout: DEFAULT partition dropped)";
    } else if (added || (!old.default_partition && p->default_partition)) {
        a->mode = arena_printf(a->arena, "adopted (relayout: %s%s%s by the premake step)",
                               added ? arena_printf(a->arena, "%d new list partition(s)", added) : "",
                               added && p->default_partition && !old.default_partition ? " and " : "",
                               p->default_partition && !old.default_partition ? "a DEFAULT partition" : "");
    }
    if (a->dry)
        printf("-- relayout of %s, partitioned here by %s: %s\n", a->s->table, by, a->mode);
    return true;
}

/* What ensure_table must do for the table as it is now. */
static bool ensure_decide(Apply *a, const Policy *p, EnsureKind *kind, Err *err)
{
    TableInfo ti;
    if (!catalog_table_info(a->c, a->schema, a->table, a->arena, &ti, err))
        return false;
    if (!ti.exists) {
        if (!a->s->sql) {
            err_set(err, PM_EDB, "%s: table \"%s\" does not exist", a->label, a->s->table);
            return err_hint(err, "create it first, or give the policy `columns` (and `primary_key`) so partmig "
                                 "creates it; then recompile");
        }
        *kind = ENSURE_CREATE;
        return true;
    }
    if (ti.relkind == 'p') {
        if (ti.strategy != strategy_of(p->by) || strcmp(ti.key, p->column) != 0) {
            err_set(err, PM_EDB, "%s: table \"%s\" is already partitioned by %s (%s), the policy says %s (%s)",
                    a->label, a->s->table,
                    ti.strategy == 'l'   ? "list"
                    : ti.strategy == 'h' ? "hash"
                                         : "range",
                    ti.key,
                    p->by == PART_LIST   ? "list"
                    : p->by == PART_HASH ? "hash"
                                         : "range",
                    p->column);
            if (is_relayout(a->s))
                return err_hint(err, "%s", relayout_recipe(a));
            return err_hint(err, "change the policy to match the table, or repartition the table by hand");
        }
        *kind = ENSURE_ADOPT;
        return true;
    }
    if (ti.relkind != 'r') {
        err_set(err, PM_EDB, "%s: \"%s\" is not a table (relkind %c)", a->label, a->s->table, ti.relkind);
        return err_hint(err, "point the policy at a table");
    }
    if (p->existing.method == EXISTING_NONE) {
        err_set(err, PM_EDB,
                "%s: table \"%s\" exists and is not partitioned, and the policy says existing.method "
                "= \"none\"",
                a->label, a->s->table);
        return err_hint(err, "set existing = { method = \"copy\" } (online) or \"attach\" in the policy, "
                             "or drop or rename the table");
    }
    *kind = ENSURE_CONVERT;
    return true;
}

/* Transactional part of ensure_table (create or adopt). */
static bool do_ensure_tx(Apply *a, Err *err)
{
    const char *json;
    Policy p;
    if (!step_policy(a, &json, &p, err))
        return false;
    EnsureKind kind;
    if (!ensure_decide(a, &p, &kind, err))
        return false;
    if (kind == ENSURE_CONVERT)
        return err_set(err, PM_EDB, "%s: table \"%s\" became a plain table while running; run apply again", a->label,
                       a->s->table);
    if (kind == ENSURE_ADOPT && is_relayout(a->s))
        return relayout_in_place(a, &p, err);
    if (kind == ENSURE_ADOPT) {
        a->mode = "adopted";
        if (a->dry)
            printf("-- \"%s\" is already partitioned by the policy's key: adopted, nothing to run\n", a->s->table);
        return true;
    }
    a->mode = "created";
    if (a->dry) {
        out_sql(a->s->sql);
        return true;
    }
    return pg_exec_script(a->c, a->s->sql, err);
}

/* ---- build_index ---- */

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
                out_sql(buf_str(&sql));
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
                    out_sql(buf_str(&sql));
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
                    out_sql(buf_str(&sql));
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
                fprintf(stderr, "partmig: %s: older transactions outlasted %s; building index \"%s\" again\n", label,
                        lt, child);
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
                out_sql(buf_str(&sql));
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

static bool do_build_index(Apply *a, Err *err)
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
    return index_partitions(a, a->schema, a->table, a->schema, index, &info, a->table, err);
}

/* ---- register / unregister ---- */

static bool do_register(Apply *a, Err *err)
{
    const char *json;
    Policy p;
    if (!step_policy(a, &json, &p, err))
        return false;
    if (a->dry) {
        printf("-- register the policy of %s in partmig.policies (as a parameter):\n--   %s\n", a->s->table, json);
        return true;
    }
    return ledger_policy_register(a->c, a->f->m.version, a->s->number, a->s->table, json, err);
}

static bool do_unregister(Apply *a, Err *err)
{
    if (!a->s->table)
        return err_at(err, PM_EINPUT, a->f->path, 0, "step %d (unregister) names no table", a->s->number);
    if (a->dry) {
        printf("-- remove %s from partmig.policies (its table and data stay)\n", a->s->table);
        return true;
    }
    return ledger_policy_unregister(a->c, a->f->m.version, a->s->number, a->s->table, err);
}

/* plan: a step that creates an extension says whether it can (CREATE
 * EXTENSION of an untrusted extension, pg_partman among them, needs a
 * superuser unless the extension is installed already). */
static bool note_extensions(Apply *a, Err *err)
{
    SqlScript *script = NULL;
    if (!sql_script_parse(a->s->sql, a->f->path, 1, &script, err))
        return false;
    bool ok = true;
    for (int i = 0; ok && i < sql_script_count(script); i++) {
        json_t *ext = json_object_get(sql_script_get(script, i)->tree, "CreateExtensionStmt");
        const char *name = json_string_value(json_object_get(ext, "extname"));
        if (!name)
            continue;
        const char *p[1] = {name}, *state = "";
        ok = pg_query_text(
            a->c,
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = $1)"
            " THEN 'installed' WHEN (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)"
            " THEN 'superuser' WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_available_extension_versions"
            " WHERE name = $1 AND trusted) THEN 'trusted' ELSE 'refused: ' || current_user END",
            1, p, a->arena, &state, err);
        if (!ok)
            break;
        if (!strcmp(state, "installed"))
            printf("-- extension %s is installed already: CREATE EXTENSION does nothing\n", name);
        else if (!strcmp(state, "superuser") || !strcmp(state, "trusted"))
            printf("-- this step creates extension %s (CREATE EXTENSION needs a superuser; this role %s)\n", name,
                   !strcmp(state, "superuser") ? "is one" : "may: the extension is trusted");
        else
            printf("-- this step creates extension %s: CREATE EXTENSION needs a superuser and role \"%s\" is not "
                   "one, so apply will fail here; have a superuser run CREATE EXTENSION %s first\n",
                   name, state + strlen("refused: "), name);
    }
    sql_script_free(script);
    return ok;
}

/* ---- the executor ---- */

static bool do_action(Apply *a, Err *err)
{
    switch (a->s->action) {
    case STEP_SQL:
        if (!a->s->sql)
            return true;
        if (a->dry) {
            out_sql(a->s->sql);
            return note_extensions(a, err) && note_planned_partitions(a, err);
        }
        return pg_exec_script(a->c, a->s->sql, err);
    case STEP_ENSURE_TABLE: return do_ensure_tx(a, err);
    case STEP_PREMAKE: return do_premake(a, err);
    case STEP_REGISTER: return do_register(a, err);
    case STEP_UNREGISTER: return do_unregister(a, err);
    case STEP_BUILD_INDEX: break;
    }
    return err_set(err, PM_EDB, "%s: action %s cannot run in a transaction", a->label, step_action_name(a->s->action));
}

static bool tx_body(void *ctx, Err *err)
{
    Apply *a = ctx;
    const Step *s = a->s;
    a->mode = NULL;
    return ledger_step_record(a->c, a->f->m.version, s->number, step_action_name(s->action), s->title, "running", NULL,
                              NULL, err) &&
           do_action(a, err) &&
           ledger_step_record(a->c, a->f->m.version, s->number, step_action_name(s->action), s->title, "done", a->mode,
                              NULL, err);
}

/* Non-transactional SQL: statement by statement (each must be idempotent). */
static bool run_statements(Apply *a, Err *err)
{
    if (!a->s->sql)
        return true;
    SqlScript *script = NULL;
    if (!sql_script_parse(a->s->sql, a->f->path, 1, &script, err))
        return false;
    bool ok = true;
    for (int i = 0; ok && i < sql_script_count(script); i++) {
        const char *text = sql_script_get(script, i)->text;
        if (a->dry)
            out_sql(text);
        else
            ok = runner_stmt(a->c, a->lock_timeout, a->o->lock_retries, a->label, a->schema, a->table, text, err);
    }
    sql_script_free(script);
    return ok;
}

/* Run (or print) one step that is not done yet. */
static bool run_step(Apply *a, Err *err)
{
    const Step *s = a->s;
    const char *action = step_action_name(s->action);
    int version = a->f->m.version;
    a->schema = a->table = NULL;
    if (s->table)
        runner_split(s->table, a->arena, &a->schema, &a->table);
    a->mode = NULL;

    /* ensure_table of a plain table is a conversion: outside a transaction,
     * and resumed whatever the table looks like now */
    bool convert = false;
    Policy p;
    if (s->action == STEP_ENSURE_TABLE) {
        const char *json;
        const LedgerStep *ls = ledger_step(&a->ledger, version, s->number);
        if (!step_policy(a, &json, &p, err))
            return false;
        EnsureKind kind = ENSURE_ADOPT;
        if (ls && !strcmp(ls->state, "running") && !strcmp(ls->mode, "converted"))
            kind = ENSURE_CONVERT;
        else if (!ensure_decide(a, &p, &kind, err))
            return false;
        convert = kind == ENSURE_CONVERT;
    }

    if (a->dry) {
        /* a conversion is no one transaction, whatever the file's default */
        printf("\n-- %s step %d: %s\n-- action=%s transactional=%s%s%s\n", a->f->name, s->number,
               s->title ? s->title : "", action,
               convert            ? "no (a conversion: many short transactions)"
               : s->transactional ? "yes"
                                  : "no",
               s->lock ? " lock=" : "", s->lock ? s->lock : "");
        bool ok;
        if (convert) {
            printf("-- convert the existing table %s (existing.method %s)\n", s->table,
                   p.existing.method == EXISTING_ATTACH ? "attach" : "copy");
            ConvertOptions co = convert_options(a, &p);
            ok = convert_run(a->c, &p, &co, err);
        } else if (s->action == STEP_BUILD_INDEX)
            ok = do_build_index(a, err);
        else if (!s->transactional && s->action == STEP_SQL)
            ok = run_statements(a, err);
        else {
            printf("BEGIN;\nSET LOCAL lock_timeout = '%s';\n", a->lock_timeout);
            ok = do_action(a, err);
            printf("COMMIT;\n");
        }
        return ok;
    }

    double t0 = retry_now();
    /* a conversion reports its own progress lines: give them a line of their own */
    printf(convert ? "%s step %d: %s\n" : "%s step %d: %s ... ", a->f->name, s->number, s->title ? s->title : action);
    fflush(stdout);
    bool ok;
    if (convert || !s->transactional || s->action == STEP_BUILD_INDEX) {
        ok = ledger_step_record(a->c, version, s->number, action, s->title, "running", convert ? "converted" : NULL,
                                NULL, err);
        if (ok && convert) {
            ConvertOptions co = convert_options(a, &p);
            ok = convert_run(a->c, &p, &co, err);
        } else if (ok && s->action == STEP_BUILD_INDEX)
            ok = do_build_index(a, err);
        else if (ok && s->action == STEP_SQL)
            ok = run_statements(a, err);
        else if (ok)
            ok = err_set(err, PM_EINPUT, "%s: action %s cannot run outside a transaction", a->label, action);
        ok = ok && ledger_step_record(a->c, version, s->number, action, s->title, "done", NULL, NULL, err);
    } else {
        ok = runner_tx(a->c, a->lock_timeout, a->o->lock_retries, a->label, s->lock, a->schema, a->table, tx_body, a,
                       err);
    }
    if (!ok && convert && err->code == PM_EINPUT && !strncmp(err->msg, "cannot convert", 14))
        /* pre-flight refused: nothing of this version was committed, so it
         * pins nothing; the fix loop is edit, compile, apply */
        err_hint(err, "apply each fix above: a fix in the policy takes \"partmig compile\" (the new version supersedes "
                      "this one) and then \"partmig apply\"; a fix in the database takes \"partmig apply\" again");
    if (!ok) {
        if (convert)
            printf("%s step %d: ", a->f->name, s->number);
        printf("failed\n");
        fflush(stdout);
        if (pg_ok(a->c)) {
            Err ignored;
            ledger_step_record(a->c, version, s->number, action, s->title, "failed", NULL, err->msg, &ignored);
        }
        return false;
    }
    if (convert)
        printf("%s step %d: ", a->f->name, s->number);
    printf("done (%.0f ms)\n", (retry_now() - t0) * 1000);
    fflush(stdout);
    return true;
}

/* The version after file I (up to --to) whose relayout ensure_table of
 * TABLE supersedes an unfinished one, 0 when none. */
static int relayout_after(const Apply *a, int i, const char *table)
{
    for (int j = i + 1; j < a->dir.n; j++) {
        const MigFile *g = &a->dir.files[j];
        if (a->o->to_given && g->m.version > a->o->to_version)
            break;
        for (int k = 0; k < g->m.nsteps; k++)
            if (is_relayout(&g->m.steps[k]) && !strcmp(g->m.steps[k].table, table))
                return g->m.version;
    }
    return 0;
}

/* The tables whose steps in file I a later relayout supersedes: the
 * ensure_table of each never completed here (not done, not running, no
 * conversion of this version under way), so the later version converts the
 * table with its own layout.  *BY[k] the superseding version. */
static bool superseded_tables(Apply *a, int i, const char ***tables, int **by, int *n, Err *err)
{
    const MigFile *f = &a->dir.files[i];
    *tables = arena_alloc(a->arena, sizeof **tables * (size_t)(f->m.nsteps + 1));
    *by = arena_alloc(a->arena, sizeof **by * (size_t)(f->m.nsteps + 1));
    *n = 0;
    ConvertOpen *open = NULL;
    int nopen = -1;
    for (int k = 0; k < f->m.nsteps; k++) {
        const Step *s = &f->m.steps[k];
        if (s->action != STEP_ENSURE_TABLE || !s->table)
            continue;
        const LedgerStep *ls = ledger_step(&a->ledger, f->m.version, s->number);
        if (ls && (!strcmp(ls->state, "done") || !strcmp(ls->state, "running")))
            continue;
        int later = relayout_after(a, i, s->table);
        if (!later)
            continue;
        if (nopen < 0 && !convert_list_open(a->c, a->arena, &open, &nopen, err))
            return false;
        bool converting = false;
        for (int c = 0; c < nopen; c++)
            converting |= !strcmp(open[c].table, s->table) && open[c].version == f->m.version;
        if (converting)
            continue;
        (*tables)[*n] = s->table;
        (*by)[(*n)++] = later;
    }
    return true;
}

/* plan --json: the current step as an object, SQL what plan prints for
 * it, SUPERSEDED (or "") why it does not run. */
static json_t *plan_step_json(Apply *a, const char *sql, const char *superseded)
{
    const Step *s = a->s;
    json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:o, s:b, s:o, s:s}", "version",
                          arena_printf(a->arena, "%04d", a->f->m.version), "file", a->f->name, "step", s->number,
                          "action", step_action_name(s->action), "title", s->title ? s->title : "", "table",
                          s->table ? json_string(s->table) : json_null(), "transactional", s->transactional, "lock",
                          s->lock ? json_string(s->lock) : json_null(), "sql", sql);
    if (*superseded)
        json_object_set_new(o, "superseded", json_string(superseded));
    return o;
}

/* plan --json: run_step with its printed plan caught (stdout pointed at a
 * scratch file meanwhile), one object appended to a->json. */
static bool plan_step_captured(Apply *a, Err *err)
{
    fflush(stdout);
    FILE *scratch = tmpfile();
    int saved = scratch ? dup(STDOUT_FILENO) : -1;
    if (saved < 0 || dup2(fileno(scratch), STDOUT_FILENO) < 0) {
        if (saved >= 0)
            close(saved);
        if (scratch)
            fclose(scratch);
        return err_set(err, PM_EDB, "plan --json: cannot capture the plan of %s: out of file descriptors", a->label);
    }
    WorkloadReport workload = {0};
    a->workload = &workload;
    bool ok = run_step(a, err);
    a->workload = NULL;
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    Buf text = {0};
    char chunk[4096];
    size_t n;
    rewind(scratch);
    while ((n = fread(chunk, 1, sizeof chunk, scratch)) > 0)
        buf_printf(&text, "%.*s", (int)n, chunk);
    fclose(scratch);
    const char *sql = buf_str(&text);
    while (*sql == '\n')
        sql++;
    json_t *step = plan_step_json(a, sql, "");
    if (workload.table)
        json_object_set_new(step, "workload", workload_json(&workload));
    workload_report_free(&workload);
    json_array_append_new(a->json, step);
    buf_free(&text);
    return ok;
}

/* Apply (or plan) every pending migration up to --to. */
static bool apply_all(Apply *a, int *applied, int *steps, Err *err)
{
    *applied = *steps = 0;
    for (int i = 0; i < a->dir.n; i++) {
        const MigFile *f = &a->dir.files[i];
        if (a->o->to_given && f->m.version > a->o->to_version)
            break;
        const LedgerMigration *lm = ledger_migration(&a->ledger, f->m.version);
        if (lm && !strcmp(lm->state, "applied"))
            continue;
        a->f = f;
        a->lock_timeout = f->m.lock_timeout ? f->m.lock_timeout : PLAN_LOCK_TIMEOUT;
        const char **sup;
        int *sup_by, nsup;
        if (!superseded_tables(a, i, &sup, &sup_by, &nsup, err))
            return false;
        /* a version that committed nothing here, recompiled since: its
         * failed attempt was of another file (runner_check_applied) */
        bool unpinned = lm && !lm->pinned && strcmp(lm->checksum, f->checksum) != 0;
        if (unpinned)
            fprintf(stderr,
                    "partmig: %s changed since it was refused here; it had completed no step, so the new file is "
                    "applied\n",
                    f->name);
        if (a->dry && a->json)
            ; /* plan --json: the steps say it all */
        else if (a->dry)
            printf("-- migration %s (lock_timeout %s, each step retried up to %d times on lock timeout)\n", f->name,
                   a->lock_timeout, a->o->lock_retries);
        else if ((unpinned && !ledger_migration_unpin(a->c, f->m.version, err)) ||
                 !ledger_migration_start(a->c, f->m.version, f->m.name, f->checksum, err))
            return false;
        for (int k = 0; k < f->m.nsteps; k++) {
            a->s = &f->m.steps[k];
            a->label = arena_printf(a->arena, "step %04d:%d", f->m.version, a->s->number);
            const LedgerStep *ls = unpinned ? NULL : ledger_step(&a->ledger, f->m.version, a->s->number);
            if (ls && !strcmp(ls->state, "done"))
                continue;
            int superseded_by = 0;
            for (int t = 0; a->s->table && t < nsup; t++)
                if (!strcmp(sup[t], a->s->table))
                    superseded_by = sup_by[t];
            if (superseded_by) {
                const char *mode = arena_printf(a->arena, "superseded by %04d", superseded_by);
                if (a->json)
                    json_array_append_new(a->json, plan_step_json(a, "", mode));
                else
                    printf("%s%s step %d: %s: %s (the policy of %s changed before this step completed here)\n",
                           a->dry ? "-- " : "", f->name, a->s->number, a->s->title ? a->s->title : "", mode,
                           a->s->table);
                if (!a->dry && !ledger_step_record(a->c, f->m.version, a->s->number, step_action_name(a->s->action),
                                                   a->s->title, "done", mode, NULL, err))
                    return false;
                continue;
            }
            if (!(a->json ? plan_step_captured(a, err) : run_step(a, err))) {
                if (!a->dry && pg_ok(a->c)) {
                    Err ignored;
                    ledger_migration_finish(a->c, f->m.version, "failed", &ignored);
                }
                return false;
            }
            (*steps)++;
        }
        if (!a->dry && !ledger_migration_finish(a->c, f->m.version, "applied", err))
            return false;
        (*applied)++;
    }
    return true;
}

static int run(int argc, char **argv, bool plan)
{
    RunOptions o;
    int rc = runner_parse(argc, argv,
                          plan ? OPT_DIR | OPT_DB | OPT_TO | OPT_JSON | OPT_REQUIRE_PRUNING
                               : OPT_DIR | OPT_DB | OPT_TO | OPT_DRY_RUN | OPT_JOBS | OPT_BATCH | OPT_SLEEP | OPT_WAIT |
                                     OPT_RETRIES | OPT_REQUIRE_PRUNING,
                          plan ? plan_usage : apply_usage, &o);
    if (rc >= 0)
        return rc;
    if (o.to_step)
        return runner_fail(
            &(Err){.code = PM_EINPUT, .msg = "--to takes a VERSION here (VERSION:STEP is for rollback)"});
    Arena arena = {0};
    Apply a = {.o = &o, .arena = &arena, .dry = plan || o.dry_run, .json = plan && o.json ? json_array() : NULL};
    Err err;
    err_clear(&err);
    int applied = 0, steps = 0;
    double t0 = retry_now();
    bool ok = migdir_load(o.dir, false, &arena, &a.dir, &err) && runner_connect(&o, &a.c, &err);
    if (!ok)
        goto done;
    if (!a.dry) {
        ok = runner_lock(a.c, o.wait_s, &arena, &err) &&
             ledger_ensure(a.c, a.dir.n ? a.dir.files[0].m.lock_timeout : PLAN_LOCK_TIMEOUT, &err);
        if (!ok)
            goto done;
    }
    ok = ledger_load(a.c, &arena, &a.ledger, &err) && runner_check_applied(&a.dir, &a.ledger, &err) &&
         apply_all(&a, &applied, &steps, &err);
    if (!ok)
        goto done;
    if (a.json) {
        char *text = json_dumps(a.json, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
        if (text)
            puts(text);
        free(text);
    } else if (a.dry)
        printf(steps ? "\n-- %d migration(s), %d step(s) to run; nothing was changed\n"
                     : "-- nothing to apply (%d migrations, %d steps); nothing was changed\n",
               applied, steps);
    else if (steps || applied)
        printf("applied %d migration(s), %d step(s) in %.2f s\n", applied, steps, retry_now() - t0);
    else
        printf("nothing to apply: the database is up to date (%d migration(s))\n", a.dir.n);
done:
    rc = ok ? PM_OK : runner_fail(&err);
    json_decref(a.json);
    pg_close(a.c); /* also releases the session's runner lock */
    sql_parse_cleanup();
    arena_free(&arena);
    return rc;
}

int cmd_plan(int argc, char **argv)
{
    return run(argc, argv, true);
}

int cmd_apply(int argc, char **argv)
{
    return run(argc, argv, false);
}
