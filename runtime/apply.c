/* apply.c: partmig plan and apply -- the command, the loop over pending
 * migrations and the step executor (transactions, ledger rows, the sql,
 * register and unregister actions).  The other actions live in
 * apply_ensure.c (ensure_table) and apply_partitions.c (premake,
 * build_index); what plan prints beyond the SQL in apply_plan.c. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../commands.h"
#include "../common/log.h"
#include "../common/sqlparse.h"
#include "apply_internal.h"
#include "retry.h"

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

static bool do_register(Apply *a, Err *err)
{
    const char *json;
    Policy p;
    if (!apply_step_policy(a, &json, &p, err))
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

/* Whether the step's SQL is one CREATE INDEX IF NOT EXISTS whose name a
 * relation already has (a copy conversion builds the policy's indexes
 * before its swap): the statement would do nothing, but only after waiting
 * for its lock on the table, with the application's writers queued behind
 * that wait. */
static bool index_present(Apply *a, bool *present, Err *err)
{
    *present = false;
    SqlScript *script = NULL;
    if (!sql_script_parse(a->s->sql, a->f->path, 1, &script, err))
        return false;
    const char *schema = NULL, *name = NULL;
    bool ok = true;
    if (sql_script_count(script) == 1 && sql_index_if_not_exists(sql_script_get(script, 0), &schema, &name)) {
        const char *params[] = {schema, name};
        ok = pg_query_bool(a->c,
                           "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
                           " ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)",
                           2, params, present, err);
    }
    sql_script_free(script);
    return ok;
}

static bool do_action(Apply *a, Err *err)
{
    switch (a->s->action) {
    case STEP_SQL:
        if (!a->s->sql)
            return true;
        if (a->dry) {
            apply_out_sql(a->s->sql);
            return apply_note_extensions(a, err) && apply_note_planned_partitions(a, err);
        }
        bool present = false;
        if (!index_present(a, &present, err))
            return false;
        return present || pg_exec_script(a->c, a->s->sql, err);
    case STEP_ENSURE_TABLE: return apply_ensure_tx(a, err);
    case STEP_PREMAKE: return apply_premake(a, err);
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
            apply_out_sql(text);
        else
            ok = runner_stmt(a->c, a->lock_timeout, a->o->lock_retries, a->label, a->schema, a->table, text, err);
    }
    sql_script_free(script);
    return ok;
}

/* Run (or print) one step that is not done yet. */
static bool apply_run_step(Apply *a, Err *err)
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
        if (!apply_step_policy(a, &json, &p, err))
            return false;
        EnsureKind kind = ENSURE_ADOPT;
        if (ls && !strcmp(ls->state, "running") && !strcmp(ls->mode, "converted"))
            kind = ENSURE_CONVERT;
        else if (!apply_ensure_decide(a, &p, &kind, err))
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
            ConvertOptions co = apply_convert_options(a, &p);
            ok = convert_run(a->c, &p, &co, err);
        } else if (s->action == STEP_BUILD_INDEX)
            ok = apply_build_index(a, err);
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
            ConvertOptions co = apply_convert_options(a, &p);
            ok = convert_run(a->c, &p, &co, err);
        } else if (ok && s->action == STEP_BUILD_INDEX)
            ok = apply_build_index(a, err);
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
    bool ok = apply_run_step(a, err);
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
    json_t *step = apply_plan_step_json(a, sql, "");
    if (workload.table)
        json_object_set_new(step, "workload", workload_json(&workload));
    workload_report_free(&workload);
    json_array_append_new(a->json, step);
    buf_free(&text);
    return ok;
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
            if (apply_is_relayout(&g->m.steps[k]) && !strcmp(g->m.steps[k].table, table))
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

/* The ledger's finished_at ("2026-05-01 12:00:00.123+00") to the second:
 * "2026-05-01 12:00:00 UTC" ("... +05:30" for another offset); "an unknown
 * date" when not recorded. */
static const char *rolled_back_when(Arena *arena, const char *ts)
{
    size_t n = strlen(ts);
    if (n < 19)
        return "an unknown date";
    const char *off = ts + 19;
    while (*off == '.' || (*off >= '0' && *off <= '9'))
        off++;
    if (!*off || !strcmp(off, "+00"))
        return arena_printf(arena, "%.19s UTC", ts);
    return arena_printf(arena, "%.19s %s", ts, off);
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
            log_msg(LOG_INFO,
                    "%s changed since it was refused here; it had completed no step, so the new file is applied",
                    f->name);
        /* rolled back here before: applying it again is allowed, but said */
        if (lm && !strcmp(lm->state, "rolled_back"))
            log_msg(LOG_INFO, "%s: version %04d was rolled back on %s and %s applied again", f->name, f->m.version,
                    rolled_back_when(a->arena, lm->finished_at), a->dry ? "would be" : "is being");
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
                    json_array_append_new(a->json, apply_plan_step_json(a, "", mode));
                else
                    printf("%s%s step %d: %s: %s (the policy of %s changed before this step completed here)\n",
                           a->dry ? "-- " : "", f->name, a->s->number, a->s->title ? a->s->title : "", mode,
                           a->s->table);
                if (!a->dry && !ledger_step_record(a->c, f->m.version, a->s->number, step_action_name(a->s->action),
                                                   a->s->title, "done", mode, NULL, err))
                    return false;
                continue;
            }
            if (!(a->json ? plan_step_captured(a, err) : apply_run_step(a, err))) {
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
