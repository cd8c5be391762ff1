/* maintain.c: partmig maintain -- the command, the loop over every policy
 * registered in the ledger, each table's steps in order, and the helpers
 * and transaction bodies the steps share.  The steps themselves live in
 * maintain_retention.c (retention, tiering) and maintain_premake.c
 * (premake, the DEFAULT partition, pg_partman). */
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

void maint_say(Table *t, const char *fmt, ...)
{
    va_list ap;
    printf("%s: %s", t->qname, t->m->o.dry_run ? "would " : "");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    t->m->actions++;
}

/* Print ERR about table T ("partmig: schema.table: ..."); returns false. */
bool maint_fail(Table *t, Err *err)
{
    Err e = *err;
    e.file[0] = '\0';
    err_set(&e, err->code ? err->code : PM_EDB, "%s: %s", t->qname, err->msg);
    snprintf(e.hint, sizeof e.hint, "%s", err->hint); /* err_set cleared it */
    if (!t->error || !*t->error)
        t->error = arena_strdup(t->m->arena, err->msg);
    fflush(stdout);
    err_print(&e);
    err_clear(err);
    return false;
}

bool maint_refresh(Table *t, Err *err)
{
    return catalog_partitions(t->m->c, t->p.schema, t->p.table, t->m->arena, &t->parts, &t->nparts, err);
}

const PartInfo *maint_default_part(const Table *t)
{
    for (int i = 0; i < t->nparts; i++)
        if (t->parts[i].is_default)
            return &t->parts[i];
    return NULL;
}

/* Index of the newest range partition (highest bounds), -1 when none. */
int maint_newest_part(const Table *t)
{
    int newest = -1;
    for (int i = 0; i < t->nparts; i++)
        if (!t->parts[i].is_default && *t->parts[i].to)
            newest = i; /* catalog_partitions orders range partitions by lower bound */
    return newest;
}

/* "YYYY-MM-DD" or "YYYY-MM-DD HH:00" */
static void wall_show(Buf *b, WallTime w)
{
    buf_printf(b, "%04d-%02d-%02d", w.year, w.month, w.day);
    if (w.hour)
        buf_printf(b, " %02d:00", w.hour);
}

/* "[2027-03-01, 2027-04-01)" for a range spec, "" otherwise; owned by ARENA. */
const char *maint_spec_range(const Table *t, const PartitionSpec *s)
{
    if (t->p.by != PART_RANGE || !strcmp(s->bound_sql, "DEFAULT"))
        return arena_strdup(t->m->arena, s->bound_sql);
    Buf b = {0};
    if (t->p.interval.unit == UNIT_INTEGER)
        buf_printf(&b, "[%lld, %lld)", (long long)s->lower_int, (long long)s->upper_int);
    else {
        buf_putc(&b, '[');
        wall_show(&b, s->lower);
        buf_append(&b, ", ");
        wall_show(&b, s->upper);
        buf_putc(&b, ')');
    }
    return buf_to_arena(&b, t->m->arena);
}

/* A range spec's bounds as parameter text ("2024-01-01 00:00:00 UTC" or "100"). */
void maint_spec_params(const Table *t, const PartitionSpec *s, const char **lo, const char **hi)
{
    Arena *a = t->m->arena;
    if (t->p.interval.unit == UNIT_INTEGER) {
        *lo = arena_printf(a, "%lld", (long long)s->lower_int);
        *hi = arena_printf(a, "%lld", (long long)s->upper_int);
        return;
    }
    Buf b = {0};
    walltime_format(&b, s->lower);
    *lo = arena_printf(a, "%s %s", buf_str(&b), t->p.timezone);
    buf_reset(&b);
    walltime_format(&b, s->upper);
    *hi = arena_printf(a, "%s %s", buf_str(&b), t->p.timezone);
    buf_free(&b);
}

/* A catalog bound as printed: midnight and the session's UTC offset dropped
 * ("2024-06-01 00:00:00+00" -> "2024-06-01"), like the created ones. */
static const char *bound_show(const Table *t, const char *bound)
{
    size_t n = strlen(bound);
    static const char *const tails[] = {" 00:00:00+00", " 00:00:00", "+00"};
    for (size_t i = 0; i < sizeof tails / sizeof *tails; i++) {
        size_t k = strlen(tails[i]);
        if (n > k && !strcmp(bound + n - k, tails[i]))
            return arena_strndup(t->m->arena, bound, n - k);
    }
    return bound;
}

const char *maint_part_range(const Table *t, const PartInfo *pi)
{
    return arena_printf(t->m->arena, "[%s, %s)", bound_show(t, pi->from), bound_show(t, pi->to));
}

/* now - IV in the policy's zone, "YYYY-MM-DD HH:00:00" (owned by the arena). */
const char *maint_cutoff(const Table *t, Interval iv, WallTime *out)
{
    WallTime now = {1970, 1, 1, 0};
    walltime_parse(t->now, &now);
    WallTime w = interval_add(iv, now, -1);
    if (out)
        *out = w;
    Buf b = {0};
    walltime_format(&b, w);
    return buf_to_arena(&b, t->m->arena);
}

/* Whether partition PI's upper bound is <= WALL (exact, in SQL). */
bool maint_upper_at_or_before(Table *t, const PartInfo *pi, const char *wall, bool *yes, Err *err)
{
    *yes = false;
    if (pi->is_default || !*pi->to || !strcmp(pi->to, "MAXVALUE") || !strcmp(pi->to, "MINVALUE"))
        return true;
    int cmp = 1;
    if (!catalog_compare_bound(t->m->c, t->ti.key_type, pi->to, wall, t->p.timezone, &cmp, err))
        return false;
    *yes = cmp <= 0;
    return true;
}

/* ---- transaction bodies ---- */

static bool tx_dump(Tx *x, Err *err)
{
    PgConn *c = x->t->m->c;
    Buf q = {0};
    bool ok = false;
    dump_archive_close(x->dump); /* a retry after a lock timeout starts afresh */
    x->dump = NULL;
    buf_append(&q, "LOCK TABLE ");
    quote_qualified(&q, x->dump_schema, x->dump_table);
    buf_append(&q, " IN SHARE MODE");
    if (!pg_run(c, buf_str(&q), err) || !catalog_count_rows(c, x->dump_schema, x->dump_table, &x->rows, err))
        goto done;
    if (!dump_archive_write(x->t->m->o.db, x->dump_dir, x->dump_schema, x->dump_table, x->rows, &x->dump, err))
        goto done;
    ok = true;
done:
    buf_free(&q);
    return ok;
}

static bool carry(Tx *x, Err *err)
{
    const char *carried;
    return !x->carry_name || catalog_partition_carry(x->t->m->c, x->t->p.schema, x->t->p.table, x->carry_name,
                                                     x->t->m->arena, &carried, err);
}

static bool tx_drain(Tx *x, Err *err)
{
    PgConn *c = x->t->m->c;
    const char *p[2] = {x->drain_lo, x->drain_hi};
    PgResult *r = NULL;
    if (!pg_exec_script(c, x->drain_lock, err) || !pg_exec(c, x->drain_count_sql, 2, p, &r, err))
        return false;
    x->before = pg_get_int(r, 0, 0);
    pg_result_free(r);
    if (!pg_exec_script(c, x->script, err) || !pg_exec(c, x->drain_move_sql, 2, p, &r, err))
        return false;
    x->moved = pg_get_int(r, 0, 0);
    pg_result_free(r);
    if (x->moved != x->before)
        return err_set(err, PM_EDB, "moved %lld rows but counted %lld in the same transaction: rolled back",
                       (long long)x->moved, (long long)x->before);
    return pg_exec_script(c, x->drain_attach, err) && carry(x, err);
}

static bool tx_body(void *ctx, Err *err)
{
    Tx *x = ctx;
    PgConn *c = x->t->m->c;
    if (x->drain_move_sql)
        return tx_drain(x, err);
    if (x->dump_dir && !tx_dump(x, err))
        return false;
    if (x->script && !pg_exec_script(c, x->script, err))
        return false;
    if (!carry(x, err))
        return false;
    if (x->forget_name && !ledger_retention_finish(c, x->forget_schema, x->forget_name, err))
        return false;
    /* last before COMMIT: a failed DROP leaves no file to refuse next time */
    return !x->dump || dump_archive_publish(x->dump, err);
}

bool maint_run_tx(Table *t, Tx *x, const char *label, const char *lock_what, Err *err)
{
    x->t = t;
    return runner_tx(t->m->c, LOCK_TIMEOUT, t->m->o.lock_retries, label, lock_what, t->p.schema, t->p.table, tx_body, x,
                     err);
}

bool maint_run_stmt(Table *t, const char *label, const char *sql, Err *err)
{
    return runner_stmt(t->m->c, LOCK_TIMEOUT, t->m->o.lock_retries, label, t->p.schema, t->p.table, sql, err);
}

/* ---- per table ---- */

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
    bool ok = maint_step_pending(t, err);
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
