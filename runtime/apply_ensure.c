/* apply_ensure.c: the ensure_table action -- create, adopt or convert the
 * policy's table, and a relayout of a table partitioned here already. */
#include <stdio.h>
#include <string.h>

#include "apply_internal.h"
#include "catalog.h"
#include "premake.h"

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

ConvertOptions apply_convert_options(const Apply *a, const Policy *p)
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

/* An ensure_table step a policy's layout change compiled (relayout=yes). */
bool apply_is_relayout(const Step *s)
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
bool apply_ensure_decide(Apply *a, const Policy *p, EnsureKind *kind, Err *err)
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
            if (apply_is_relayout(a->s))
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
bool apply_ensure_tx(Apply *a, Err *err)
{
    const char *json;
    Policy p;
    if (!apply_step_policy(a, &json, &p, err))
        return false;
    EnsureKind kind = ENSURE_ADOPT;
    if (!apply_ensure_decide(a, &p, &kind, err))
        return false;
    if (kind == ENSURE_CONVERT)
        return err_set(err, PM_EDB, "%s: table \"%s\" became a plain table while running; run apply again", a->label,
                       a->s->table);
    if (kind == ENSURE_ADOPT && apply_is_relayout(a->s))
        return relayout_in_place(a, &p, err);
    if (kind == ENSURE_ADOPT) {
        a->mode = "adopted";
        if (a->dry)
            printf("-- \"%s\" is already partitioned by the policy's key: adopted, nothing to run\n", a->s->table);
        return true;
    }
    a->mode = "created";
    if (a->dry) {
        apply_out_sql(a->s->sql);
        return true;
    }
    return pg_exec_script(a->c, a->s->sql, err);
}
