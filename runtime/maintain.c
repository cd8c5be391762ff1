/* maintain.c: partmig maintain -- the command, the loop over every policy
 * registered in the ledger, each table's steps in order.  The steps live in
 * maintain_retention.c (retention, tiering) and maintain_premake.c
 * (premake, the DEFAULT partition, pg_partman); what they share for one
 * table in maintain_table.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands.h"
#include "../common/log.h"
#include "../common/buf.h"
#include "../common/fs.h"
#include "../model/plan.h"
#include "../common/quote.h"
#include "../model/partitions.h"
#include "../model/policy.h"
#include "catalog.h"
#include "convert.h"
#include "ledger.h"
#include "maintain_dump.h"
#include "maintain_internal.h"
#include "premake.h"
#include "runner.h"

static const char *const maintain_usage =
    "usage: partmig maintain [--db URL] [--dry-run] [--drain-default] [--wait SECONDS]\n"
    "                        [--lock-retries N]\n"
    "\n"
    "Keep the partitions of every policy registered in the ledger healthy; safe to\n"
    "run every night from cron: a second run does nothing, and on a standby it\n"
    "does nothing at all.  Per table, each change is its own short transaction\n"
    "under lock_timeout, retried with backoff; one table's failure does not stop\n"
    "the others.\n"
    "\n"
    "  premake     partitions exist for [now, now + premake intervals] by the\n"
    "              server clock in the policy's timezone (CREATE TABLE IF NOT EXISTS)\n"
    "  retention   partitions whose upper bound is at least `keep` old are\n"
    "              detached (CONCURRENTLY when the table has no DEFAULT partition),\n"
    "              then dropped, kept (keep_table), moved to the archive schema, or\n"
    "              dumped with pg_dump (archive = \"dump:DIR\"), the dump verified\n"
    "              before the drop.  Never the newest partition, never one that a\n"
    "              foreign key references\n"
    "  tiering     partitions older than `older_than` move to the tablespace with\n"
    "              ALTER TABLE ... SET TABLESPACE, which rewrites the partition\n"
    "              under an ACCESS EXCLUSIVE lock (readers and writers of that\n"
    "              partition wait while it is copied)\n"
    "  DEFAULT     the rows in each DEFAULT partition are reported\n"
    "  pg_partman  policies with backend = \"pg_partman\": partman.run_maintenance()\n"
    "              for each such table, reporting the partitions it made and\n"
    "              removed; its retention waits until a conversion is finalized\n"
    "\n"
    "      --db URL          connection URL (else PARTMIG_DATABASE_URL, else PG* env);\n"
    "                        others see it in ps: give a password through\n"
    "                        PARTMIG_DATABASE_URL, PGPASSWORD or ~/.pgpass instead\n"
    "      --dry-run         print what would be done (\"would ...\"), change nothing\n"
    "      --drain-default   move DEFAULT rows into proper partitions, one range per\n"
    "                        transaction, counts checked, nothing hidden\n"
    "      --wait SECONDS    wait that long for another runner to finish (default 0)\n"
    "      --lock-retries N  tries per change on lock timeout (default 8)\n"
    "\n"
    "exit codes: 0 done (or nothing to do), 1 a table's maintenance failed,\n"
    "2 bad usage, 3 another runner holds the lock\n";

/* The maintenance of table T (its policy in JSON); false when anything
 * failed (printed by table_fail). */
static bool maintain_table_steps(Table *t, const char *json, Err *err)
{
    Maint *m = t->m;
    if (!policy_from_json(json, m->arena, &t->p, err)) {
        char why[sizeof err->msg];
        memcpy(why, err->msg, sizeof why);
        err_set(err, PM_EDB, "registered policy does not parse: %s", why);
        return maint_fail(t, err);
    }
    if (!catalog_table_info(m->c, t->p.schema, t->p.table, m->arena, &t->ti, err))
        return maint_fail(t, err);
    if (!t->ti.exists || t->ti.relkind != 'p') {
        err_set(err, PM_EDB, "table %s", t->ti.exists ? "is not partitioned" : "does not exist");
        err_hint(err, "run \"partmig apply\" first (or unregister the policy)");
        return maint_fail(t, err);
    }
    if (t->p.backend == BACKEND_PG_PARTMAN) {
        bool ok = maint_step_partman(t, err);
        return maint_report_default(t, err) && ok;
    }
    t->time_key = t->p.by == PART_RANGE && t->p.interval.unit != UNIT_INTEGER;
    const char *horizon;
    if (t->time_key && !premake_horizon(m->c, &t->p, m->arena, &t->now, &horizon, err))
        return maint_fail(t, err);
    /* a swapped conversion's undo log, before its horizon ages out */
    bool ok = convert_seal_aged(m->c, &t->p, err) || maint_fail(t, err);
    ok = maint_step_pending(t, err) && ok;
    if (m->drain)
        ok = maint_step_drain(t, err) && ok;
    ok = maint_step_premake(t, err) && ok;
    if (t->time_key && t->p.retention.set)
        ok = maint_step_retention(t, err) && ok;
    if (t->time_key && t->p.ntiers)
        ok = maint_step_tiering(t, err) && ok;
    return maint_report_default(t, err) && ok;
}

/* Returns false when anything failed for the table (already printed);
 * *ERROR the first failure's message. */
static bool maintain_table(Maint *m, const char *qname, const char *json, const char **error)
{
    Err err;
    err_clear(&err);
    Table t = {.m = m, .qname = qname, .error = ""};
    bool ok = maintain_table_steps(&t, json, &err);
    *error = t.error;
    return ok;
}

/* A failure to record a run in the ledger is said, and maintenance goes on. */
static void record_failed(Err *err)
{
    log_msg(LOG_WARNING, "cannot record the maintain run in the ledger: %s", err->msg);
    err_clear(err);
}

/* Maintain table I, its run recorded in partmig.maintain_runs (RECORD). */
static bool maintain_recorded(Maint *m, const char *qname, const char *json, bool record)
{
    Err err;
    err_clear(&err);
    if (record && !ledger_maintain_start(m->c, qname, &err))
        record_failed(&err);
    int before = m->actions;
    const char *error = "";
    bool ok = maintain_table(m, qname, json, &error);
    if (record && pg_ok(m->c) && !ledger_maintain_finish(m->c, qname, ok, error, m->actions - before, &err))
        record_failed(&err);
    return ok;
}

/* maintain's own options, beside runner_parse's. */
enum { OPTION_DRAIN_DEFAULT };
static const RunnerOption maintain_options[] = {{"drain-default", false, OPTION_DRAIN_DEFAULT, 0}, {NULL, false, 0, 0}};

static int set_option(void *ctx, int id, const char *value)
{
    (void)value;
    Maint *m = ctx;
    if (id == OPTION_DRAIN_DEFAULT)
        m->drain = true;
    return -1;
}

static int parse_options(int argc, char **argv, Maint *m)
{
    return runner_parse_extra(argc, argv, OPT_DB | OPT_DRY_RUN | OPT_WAIT | OPT_RETRIES, maintain_options, set_option,
                              m, maintain_usage, &m->o);
}

int cmd_maintain(int argc, char **argv)
{
    Maint m = {0};
    int rc = parse_options(argc, argv, &m);
    if (rc >= 0)
        return rc;
    Arena arena = {0};
    Err err;
    err_clear(&err);
    m.arena = &arena;
    rc = PM_OK;
    if (!runner_connect(&m.o, &m.c, &err))
        goto fail;
    bool standby = false, ledger = false;
    if (!catalog_in_recovery(m.c, &standby, &err))
        goto fail;
    if (standby) {
        printf("partmig maintain: the server is a standby (in recovery): nothing to do\n");
        goto done;
    }
    if (!m.o.dry_run && !runner_lock(m.c, m.o.wait_s, &arena, &err))
        goto fail;
    if (!ledger_exists(m.c, &ledger, &err))
        goto fail;
    const char **tables = NULL, **jsons = NULL;
    int n = 0;
    if (ledger && !ledger_policies(m.c, &arena, &tables, &jsons, &n, &err))
        goto fail;
    if (!n) {
        printf("partmig maintain: %s: nothing to maintain\n",
               ledger ? "no policy is registered in the ledger" : "no partmig ledger in this database");
        printf("hint: \"partmig apply\" registers the policies of a migrations directory\n");
        goto done;
    }
    /* each table's run goes to the ledger (a ledger made before version 2
     * is upgraded first); a dry run records nothing */
    bool record = !m.o.dry_run;
    if (record && !ledger_maintain_ready(m.c, &record, &err))
        goto fail;
    if (!m.o.dry_run && !record) {
        record = ledger_ensure(m.c, NULL, &err);
        if (!record)
            record_failed(&err);
    }
    int failed = 0;
    for (int i = 0; i < n; i++)
        if (!maintain_recorded(&m, tables[i], jsons[i], record))
            failed++;
    if (m.o.dry_run)
        printf("dry run: %d change(s) would be made, nothing was changed\n", m.actions);
    else if (!m.actions)
        printf("nothing to do: %d table(s) up to date\n", n);
    else
        printf("%d change(s) on %d table(s)\n", m.actions, n);
    if (failed) {
        log_msg(LOG_ERROR, "maintenance failed for %d of %d table(s)", failed, n);
        rc = PM_EDB;
    }
    goto done;
fail:
    rc = runner_fail(&err);
done:
    pg_close(m.c);
    arena_free(&arena);
    return rc;
}
