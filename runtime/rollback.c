/* rollback.c: partmig rollback --to VERSION[:STEP] -- undo applied steps in
 * reverse, refusing to cross a point of no return. */
#include <stdio.h>
#include <string.h>

#include "../commands.h"
#include "../common/buf.h"
#include "../common/sqlparse.h"
#include "../common/quote.h"
#include "catalog.h"
#include "convert.h"
#include "ledger.h"
#include "migdir.h"
#include "runner.h"

static const char *const rollback_usage =
    "usage: partmig rollback --to VERSION[:STEP] [-d DIR] [--db URL] [--wait SECONDS]\n"
    "\n"
    "Undo the applied steps after VERSION (or after step STEP of VERSION), newest\n"
    "first, each with its ledger row in one transaction.  --to 0 undoes every\n"
    "version.  A step without undo is a point of no return: rollback refuses to\n"
    "cross it and changes nothing.  Undo never destroys data: a created table or\n"
    "partition is dropped only while empty.  A conversion whose step failed or\n"
    "was interrupted, in any state, is taken back to the plain table it was\n"
    "(rows written since its swap carried back), and everything it made is\n"
    "removed; \"partmig status\" lists such conversions with the --to to use.\n"
    "\n"
    "  -d, --dir DIR      migrations directory (default migrations)\n"
    "      --db URL       connection URL (else PARTMIG_DATABASE_URL, else PG* env);\n"
    "                     others see it in ps: give a password through\n"
    "                     PARTMIG_DATABASE_URL, PGPASSWORD or ~/.pgpass instead\n"
    "      --to V[:S]     keep versions up to V (and steps up to S of V)\n"
    "      --wait SECONDS wait that long for another runner to finish (default 0)\n"
    "      --lock-retries N tries per step on lock timeout (default 8)\n"
    "\n"
    "exit codes: 0 rolled back, 1 database error or an undo refused (non-empty\n"
    "table), 2 bad input or a point of no return in the way, 3 another runner\n"
    "holds the lock\n";

typedef struct Undo {
    RunOptions *o;
    Arena *arena;
    PgConn *c;
    MigDir dir;
    const MigFile *f;
    const Step *s;
    const LedgerStep *ls;
    const char *label;
    const char *schema, *table;
} Undo;

/* Steps whose effects may exist: done, interrupted, or failed outside a
 * transaction.  A conversion runs outside one whatever its step says: a
 * failed one leaves its shadow, capture trigger and change log behind, and
 * undoing it removes them. */
static bool step_has_effects(const LedgerStep *ls, const Step *s)
{
    bool converted = s->action == STEP_ENSURE_TABLE && !strcmp(ls->mode, "converted");
    return !strcmp(ls->state, "done") || !strcmp(ls->state, "running") ||
           (!strcmp(ls->state, "failed") && (!s->transactional || converted));
}

static bool after_target(const RunOptions *o, int version, int step)
{
    if (version != o->to_version)
        return version > o->to_version;
    return o->to_step > 0 && step > o->to_step;
}

/* LOCK TABLE SCHEMA.TABLE IN ACCESS EXCLUSIVE MODE, when it exists (inside
 * the step's transaction, under its lock_timeout). */
static bool lock_exclusive(Undo *u, const char *schema, const char *table, Err *err)
{
    bool exists = false;
    if (!catalog_relation_exists(u->c, schema, table, &exists, err))
        return false;
    if (!exists)
        return true;
    Buf sql = {0};
    buf_append(&sql, "LOCK TABLE ");
    quote_qualified(&sql, schema, table);
    buf_append(&sql, " IN ACCESS EXCLUSIVE MODE");
    bool ok = pg_run(u->c, buf_str(&sql), err);
    buf_free(&sql);
    return ok;
}

/* Drop the partitions VERSION:STEP created, all or none, only while empty. */
static bool undo_premake(Undo *u, Err *err)
{
    LedgerObject *objs = NULL;
    int n = 0;
    if (!ledger_objects(u->c, u->f->m.version, u->s->number, u->arena, &objs, &n, err))
        return false;
    Buf sql = {0};
    bool ok = false;
    /* the parent's lock before any emptiness check: an insert not yet
     * committed would be invisible to the check and lost by the drop */
    if (!lock_exclusive(u, u->schema, u->table, err))
        goto done;
    for (int i = 0; i < n; i++) {
        if (strcmp(objs[i].kind, "partition") != 0)
            continue;
        bool exists = false, empty = true;
        if (!catalog_relation_exists(u->c, objs[i].schema, objs[i].name, &exists, err))
            goto done;
        if (!exists)
            continue;
        if (!catalog_relation_empty(u->c, objs[i].schema, objs[i].name, &empty, err))
            goto done;
        if (!empty) {
            err_set(err, PM_EDB, "%s: partition \"%s.%s\" holds rows; rollback never drops data", u->label,
                    objs[i].schema, objs[i].name);
            err_hint(err, "move or delete its rows first (or keep this version), then run rollback again");
            goto done;
        }
        buf_reset(&sql);
        catalog_sql_drop_table(&sql, objs[i].schema, objs[i].name);
        if (!pg_exec_script(u->c, buf_str(&sql), err))
            goto done;
    }
    ok = true;
done:
    buf_free(&sql);
    return ok;
}

static bool undo_created_table(Undo *u, Err *err)
{
    bool exists = false, empty = true;
    if (!catalog_relation_exists(u->c, u->schema, u->table, &exists, err))
        return false;
    if (!exists)
        return true;
    /* locked first, so no uncommitted insert slips past the check */
    if (!lock_exclusive(u, u->schema, u->table, err) || !catalog_relation_empty(u->c, u->schema, u->table, &empty, err))
        return false;
    if (!empty) {
        err_set(err, PM_EDB, "%s: table \"%s\" holds rows; rollback never drops data", u->label, u->s->table);
        return err_hint(err, "this step created the table; empty it yourself if it really must go, then run "
                             "rollback again");
    }
    Buf sql = {0};
    catalog_sql_drop_table(&sql, u->schema, u->table);
    bool ok = pg_exec_script(u->c, buf_str(&sql), err);
    buf_free(&sql);
    return ok;
}

static bool undo_action(Undo *u, Err *err)
{
    const Step *s = u->s;
    if (s->undo == UNDO_SQL) {
        if (pg_exec_script(u->c, s->undo_sql, err))
            return true;
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        err_set(err, PM_EDB, "%s: undo failed: %s", u->label, msg);
        return err_hint(err, "nothing of this step was undone; fix the cause, then run the rollback again, "
                             "or \"partmig apply\" to go forward");
    }
    switch (s->action) {
    case STEP_ENSURE_TABLE:
        if (!strcmp(u->ls->mode, "created"))
            return undo_created_table(u, err);
        return true; /* adopted: nothing was changed; converted: handled outside a transaction */
    case STEP_PREMAKE: return undo_premake(u, err);
    case STEP_BUILD_INDEX: {
        Buf sql = {0};
        catalog_sql_drop_index(&sql, false, u->schema, step_arg(s, "index"));
        bool ok = pg_exec_script(u->c, buf_str(&sql), err);
        buf_free(&sql);
        return ok;
    }
    case STEP_REGISTER:
    case STEP_UNREGISTER: return ledger_policy_restore(u->c, u->f->m.version, s->number, s->table, err);
    case STEP_SQL: break;
    }
    return err_set(err, PM_EDB, "%s: no undo for action %s", u->label, step_action_name(s->action));
}

static bool undo_tx_body(void *ctx, Err *err)
{
    Undo *u = ctx;
    return undo_action(u, err) && ledger_migration_finish(u->c, u->f->m.version, "rolled_back", err) &&
           ledger_step_record(u->c, u->f->m.version, u->s->number, step_action_name(u->s->action), u->s->title,
                              "rolled_back", NULL, NULL, err) &&
           ledger_objects_clear(u->c, u->f->m.version, u->s->number, err);
}

/* Undo one step. */
static bool undo_step(Undo *u, Err *err)
{
    const Step *s = u->s;
    u->schema = u->table = NULL;
    if (s->table)
        runner_split(s->table, u->arena, &u->schema, &u->table);
    const char *lt = u->f->m.lock_timeout ? u->f->m.lock_timeout : PLAN_LOCK_TIMEOUT;
    printf("undo %s: %s ... ", u->label, s->title ? s->title : step_action_name(s->action));
    fflush(stdout);
    bool ok;
    bool converted = s->action == STEP_ENSURE_TABLE && !strcmp(u->ls->mode, "converted");
    if (converted) {
        const char *json;
        Policy p;
        ok = migdir_policy(&u->dir, s->table, u->f->m.version, u->arena, &json, &p, err);
        if (ok && !json)
            ok = err_set(err, PM_EINPUT, "%s: no policy for \"%s\" in the migrations", u->label, s->table);
        if (ok) {
            ConvertOptions co = {.version = u->f->m.version,
                                 .step = s->number,
                                 .jobs = u->o->jobs ? u->o->jobs : p.existing.jobs,
                                 .batch_size = u->o->batch_size ? u->o->batch_size : p.existing.batch_size,
                                 .sleep_ms = u->o->sleep_ms,
                                 .db_url = u->o->db,
                                 .lock_retries = u->o->lock_retries};
            ok = convert_undo(u->c, &p, &co, err);
        }
        ok =
            ok && runner_tx(u->c, lt, u->o->lock_retries, u->label, s->lock, u->schema, u->table, undo_tx_body, u, err);
    } else if (!s->transactional && s->undo == UNDO_SQL) {
        SqlScript *script = NULL;
        ok = sql_script_parse(s->undo_sql, u->f->path, 1, &script, err);
        for (int i = 0; ok && i < sql_script_count(script); i++)
            ok = runner_stmt(u->c, lt, u->o->lock_retries, u->label, u->schema, u->table,
                             sql_script_get(script, i)->text, err);
        sql_script_free(script);
        ok = ok && ledger_migration_finish(u->c, u->f->m.version, "rolled_back", err) &&
             ledger_step_record(u->c, u->f->m.version, s->number, step_action_name(s->action), s->title, "rolled_back",
                                NULL, NULL, err) &&
             ledger_objects_clear(u->c, u->f->m.version, s->number, err);
    } else {
        ok = runner_tx(u->c, lt, u->o->lock_retries, u->label, s->lock, u->schema, u->table, undo_tx_body, u, err);
    }
    printf(ok ? "done\n" : "failed\n");
    fflush(stdout);
    return ok;
}

/* Whether step S (ledger row LS) works on a table whose copy conversion
 * is undone later in this rollback (TODO, newest first): a converting
 * ensure_table step of the same table further down the list. */
static bool goes_with_conversion(const MigDir *dir, const LedgerStep *const *todo, int n, const LedgerStep *ls,
                                 const Step *s)
{
    /* only what the new table is made of: the ledger's own steps (the
     * policy's registration) undo themselves */
    if (!s->table || (s->action != STEP_SQL && s->action != STEP_PREMAKE && s->action != STEP_BUILD_INDEX))
        return false;
    for (int i = 0; i < n; i++) {
        const LedgerStep *t = todo[i];
        if (t->version > ls->version || (t->version == ls->version && t->step >= ls->step))
            continue; /* only steps that ran before S are undone after it */
        const MigFile *f = migdir_find(dir, t->version);
        const Step *ts = f ? &f->m.steps[t->step - 1] : NULL;
        /* copy only: its undo drops the new table whole; attach's keeps the
         * partitioned table's pieces in play (the old table's own indexes
         * are attached to the policy's), so those steps undo themselves */
        const char *method = ts ? step_arg(ts, "method") : NULL;
        if (ts && ts->action == STEP_ENSURE_TABLE && !strcmp(t->mode, "converted") && ts->table &&
            !strcmp(ts->table, s->table) && (!method || !strcmp(method, "copy")))
            return true;
    }
    return false;
}

int cmd_rollback(int argc, char **argv)
{
    RunOptions o;
    int rc = runner_parse(argc, argv, OPT_DIR | OPT_DB | OPT_TO | OPT_WAIT | OPT_RETRIES, rollback_usage, &o);
    if (rc >= 0)
        return rc;
    Arena arena = {0};
    Undo u = {.o = &o, .arena = &arena};
    Ledger ledger;
    Err err;
    err_clear(&err);
    bool ok = false;
    int undone = 0;
    if (!o.to_given) {
        err_set(&err, PM_EINPUT, "rollback needs --to VERSION[:STEP] (--to 0 undoes every version)");
        err_hint(&err, "run \"partmig status\" to see the applied versions");
        goto done;
    }
    if (!migdir_load(o.dir, false, &arena, &u.dir, &err) || !runner_connect(&o, &u.c, &err) ||
        !runner_lock(u.c, o.wait_s, &arena, &err) || !ledger_load(u.c, &arena, &ledger, &err) ||
        !runner_check_applied(&u.dir, &ledger, &err))
        goto done;

    /* the steps to undo, newest first; refuse before changing anything */
    int n = 0;
    const LedgerStep **todo = arena_alloc(&arena, sizeof *todo * (size_t)(ledger.nsteps + 1));
    for (int i = ledger.nsteps - 1; i >= 0; i--) {
        const LedgerStep *ls = &ledger.steps[i];
        if (!after_target(&o, ls->version, ls->step))
            continue;
        const MigFile *f = migdir_find(&u.dir, ls->version);
        if (!f || ls->step > f->m.nsteps) {
            err_set(&err, PM_EINPUT, "step %04d:%d is in the ledger but not in \"%s\"", ls->version, ls->step, o.dir);
            err_hint(&err, "restore the migration files from version control");
            goto done;
        }
        const Step *s = &f->m.steps[ls->step - 1];
        if (!step_has_effects(ls, s))
            continue;
        if (s->undo == UNDO_NONE) {
            err_set(&err, PM_EINPUT, "cannot roll back past step %04d:%d (\"%s\"): it is a point of no return",
                    ls->version, ls->step, s->title ? s->title : step_action_name(s->action));
            err_hint(&err, "roll back to %04d:%d or later at most; nothing was changed", ls->version, ls->step);
            goto done;
        }
        todo[n++] = ls;
    }
    for (int i = 0; i < n; i++) {
        u.ls = todo[i];
        u.f = migdir_find(&u.dir, u.ls->version);
        u.s = &u.f->m.steps[u.ls->step - 1];
        u.label = arena_printf(&arena, "step %04d:%d", u.ls->version, u.ls->step);
        if (goes_with_conversion(&u.dir, todo, n, u.ls, u.s)) {
            /* the conversion's own undo, later in this rollback, takes the
             * table back whole: the partitioned table, with the partitions
             * and indexes this step made, is dropped once its rows are back
             * in the original (this step's undo would refuse to drop
             * partitions that hold them) */
            printf("undo %s: %s ... goes with the conversion's undo of %s\n", u.label,
                   u.s->title ? u.s->title : step_action_name(u.s->action), u.s->table);
            if (!ledger_migration_finish(u.c, u.ls->version, "rolled_back", &err) ||
                !ledger_step_record(u.c, u.ls->version, u.s->number, step_action_name(u.s->action), u.s->title,
                                    "rolled_back", NULL, NULL, &err) ||
                !ledger_objects_clear(u.c, u.ls->version, u.s->number, &err))
                goto done;
            undone++;
            continue;
        }
        if (!undo_step(&u, &err))
            goto done;
        /* the version is marked rolled_back with its first undone step (what is left re-applies) */
        undone++;
    }
    if (undone)
        printf("rolled back %d step(s); the database is at %04d%s\n", undone, o.to_version,
               o.to_step ? arena_printf(&arena, ":%d", o.to_step) : "");
    else
        printf("nothing to roll back: no applied step after %04d%s\n", o.to_version,
               o.to_step ? arena_printf(&arena, ":%d", o.to_step) : "");
    ok = true;
done:
    rc = ok ? PM_OK : runner_fail(&err);
    pg_close(u.c);
    sql_parse_cleanup();
    arena_free(&arena);
    return rc;
}
