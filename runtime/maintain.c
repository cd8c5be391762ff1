/* maintain.c: partmig maintain -- premake by the clock, retention, tiering
 * and the DEFAULT partition for every policy registered in the ledger. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands.h"
#include "../common/buf.h"
#include "../common/fs.h"
#include "../model/plan.h"
#include "../common/quote.h"
#include "../model/partitions.h"
#include "../model/policy.h"
#include "catalog.h"
#include "ledger.h"
#include "maintain_dump.h"
#include "maintain_sql.h"
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

#define LOCK_TIMEOUT PLAN_LOCK_TIMEOUT

typedef struct Maint {
    RunOptions o;
    bool drain;
    PgConn *c;
    Arena *arena;
    int actions; /* changes made (or, dry run, that would be made) */
    bool pending_ready;
} Maint;

/* One registered table being maintained. */
typedef struct Table {
    Maint *m;
    const char *qname; /* "schema.table" */
    Policy p;
    TableInfo ti;
    PartInfo *parts;
    int nparts;
    const char *now; /* server clock in the policy's zone, "YYYY-MM-DD HH:00:00" */
    bool time_key;
    const char *error; /* the first failure's message, for the ledger ("" none) */
} Table;

static void say(Table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(Table *t, const char *fmt, ...)
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
static bool table_fail(Table *t, Err *err)
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

static bool refresh(Table *t, Err *err)
{
    return catalog_partitions(t->m->c, t->p.schema, t->p.table, t->m->arena, &t->parts, &t->nparts, err);
}

static const PartInfo *default_part(const Table *t)
{
    for (int i = 0; i < t->nparts; i++)
        if (t->parts[i].is_default)
            return &t->parts[i];
    return NULL;
}

/* Index of the newest range partition (highest bounds), -1 when none. */
static int newest_part(const Table *t)
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
static const char *spec_range(const Table *t, const PartitionSpec *s)
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
    const char *r = arena_strdup(t->m->arena, buf_str(&b));
    buf_free(&b);
    return r;
}

/* A range spec's bounds as parameter text ("2024-01-01 00:00:00 UTC" or "100"). */
static void spec_params(const Table *t, const PartitionSpec *s, const char **lo, const char **hi)
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

static const char *part_range(const Table *t, const PartInfo *pi)
{
    return arena_printf(t->m->arena, "[%s, %s)", bound_show(t, pi->from), bound_show(t, pi->to));
}

/* now - IV in the policy's zone, "YYYY-MM-DD HH:00:00" (owned by the arena). */
static const char *cutoff(const Table *t, Interval iv, WallTime *out)
{
    WallTime now = {1970, 1, 1, 0};
    walltime_parse(t->now, &now);
    WallTime w = interval_add(iv, now, -1);
    if (out)
        *out = w;
    Buf b = {0};
    walltime_format(&b, w);
    const char *s = arena_strdup(t->m->arena, buf_str(&b));
    buf_free(&b);
    return s;
}

/* Whether partition PI's upper bound is <= WALL (exact, in SQL). */
static bool upper_at_or_before(Table *t, const PartInfo *pi, const char *wall, bool *yes, Err *err)
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

typedef struct Tx {
    Table *t;
    const char *script;                      /* run first (may be NULL) */
    const char *forget_schema, *forget_name; /* retention record to drop with it */
    /* dump: lock, count, pg_dump, verify, SCRIPT drops the table, then the
     * dump is moved into place */
    const char *dump_schema, *dump_table, *dump_dir;
    DumpArchive *dump;
    int64_t rows;
    /* drain */
    const char *drain_lock, *drain_lo, *drain_hi, *drain_count_sql, *drain_move_sql, *drain_attach;
    int64_t before, moved;
    /* a partition just created: it takes the table's grants, owner,
     * storage parameters and replica identity (catalog_partition_carry) */
    const char *carry_name;
} Tx;

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
    if (x->forget_name && !msql_pending_forget(c, x->forget_schema, x->forget_name, err))
        return false;
    /* last before COMMIT: a failed DROP leaves no file to refuse next time */
    return !x->dump || dump_archive_publish(x->dump, err);
}

static bool run_tx(Table *t, Tx *x, const char *label, const char *lock_what, Err *err)
{
    x->t = t;
    return runner_tx(t->m->c, LOCK_TIMEOUT, t->m->o.lock_retries, label, lock_what, t->p.schema, t->p.table, tx_body, x,
                     err);
}

static bool run_stmt(Table *t, const char *label, const char *sql, Err *err)
{
    return runner_stmt(t->m->c, LOCK_TIMEOUT, t->m->o.lock_retries, label, t->p.schema, t->p.table, sql, err);
}

/* ---- retention ---- */

/* Statements dropping every index of SCHEMA.NAME (the table as named in
 * the same transaction: IN_SCHEMA), appended to B; constraint-backed ones
 * go with their constraint. */
static bool drop_indexes_sql(Table *t, const char *schema, const char *name, const char *in_schema, Buf *b, Err *err)
{
    const char **ix, **con;
    int n;
    if (!msql_indexes(t->m->c, schema, name, t->m->arena, &ix, &con, &n, err))
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
        msql_set_schema(&sql, schema, name, rt->archive_target);
        buf_append(&sql, ";\n");
        /* the indexes moved with the table */
        if (!rt->keep_index && !drop_indexes_sql(t, schema, name, rt->archive_target, &sql, err))
            goto done;
        x.script = buf_str(&sql);
        if (!run_tx(t, &x, label, "ACCESS EXCLUSIVE on the detached table", err))
            goto done;
        say(t, "detached partition %s %s (%lld rows), moved to schema %s%s", name, range, (long long)rows,
            rt->archive_target, rt->keep_index ? "" : " without its indexes");
    } else if (rt->archive == ARCHIVE_DUMP) {
        x.dump_schema = schema;
        x.dump_table = name;
        x.dump_dir = rt->archive_target;
        catalog_sql_drop_table(&sql, schema, name);
        x.script = buf_str(&sql);
        bool dumped = run_tx(t, &x, label, "ACCESS EXCLUSIVE on the detached table", err);
        const char *path = x.dump ? arena_strdup(a, dump_archive_path(x.dump)) : "";
        dump_archive_close(x.dump);
        if (!dumped)
            goto done;
        say(t, "dumped partition %s %s to %s (%lld rows, verified), dropped it", name, range, path, (long long)x.rows);
    } else if (rt->keep_table) {
        if (!rt->keep_index && !drop_indexes_sql(t, schema, name, schema, &sql, err))
            goto done;
        x.script = sql.len ? buf_str(&sql) : NULL;
        if (!run_tx(t, &x, label, "ACCESS EXCLUSIVE on the detached table", err))
            goto done;
        say(t, "detached partition %s %s (%lld rows), kept as table %s.%s%s", name, range, (long long)rows, schema,
            name, rt->keep_index ? "" : " without its indexes");
    } else {
        catalog_sql_drop_table(&sql, schema, name);
        x.script = buf_str(&sql);
        if (!run_tx(t, &x, label, "ACCESS EXCLUSIVE on the detached table", err))
            goto done;
        say(t, "dropped partition %s %s (%lld rows)", name, range, (long long)rows);
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
    if (!m->pending_ready && !msql_pending_ensure(m->c, err))
        return false;
    m->pending_ready = true;
    return true;
}

static bool remove_partition(Table *t, const PartInfo *pi, bool has_default, Err *err)
{
    Maint *m = t->m;
    int64_t rows = 0;
    const char *range = part_range(t, pi);
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
        say(t, "detach partition %s %s (%lld rows)%s %s", pi->name, range, (long long)rows,
            has_default ? "" : " concurrently", dispose_words(t));
        return true;
    }
    if (!pending_ready(m, err) || !msql_pending_add(m->c, t->qname, pi->schema, pi->name, range, err))
        return false;
    Buf sql = {0};
    bool ok = false;
    const char *label = arena_printf(m->arena, "%s.%s", pi->schema, pi->name);
    if (has_default) {
        /* DETACH CONCURRENTLY is not allowed while the table has a DEFAULT partition */
        msql_detach(&sql, t->p.schema, t->p.table, pi->schema, pi->name, "");
        Tx x = {.script = buf_str(&sql)};
        if (!run_tx(t, &x, label, "ACCESS EXCLUSIVE on the table", err))
            goto done;
    } else {
        msql_detach(&sql, t->p.schema, t->p.table, pi->schema, pi->name, "CONCURRENTLY");
        if (!run_stmt(t, label, buf_str(&sql), err)) {
            /* cancelled while waiting for older snapshots: the detach is
             * pending, FINALIZE completes it */
            const char **pending;
            int n;
            Err ignored;
            bool left = false;
            if (msql_detach_pending(m->c, t->p.schema, t->p.table, m->arena, &pending, &n, &ignored))
                for (int i = 0; i < n; i++)
                    left = left || !strcmp(pending[i], pi->name);
            if (!left)
                goto done;
            err_clear(err);
            buf_reset(&sql);
            msql_detach(&sql, t->p.schema, t->p.table, pi->schema, pi->name, "FINALIZE");
            if (!run_stmt(t, label, buf_str(&sql), err))
                goto done;
        }
    }
    ok = dispose(t, pi->schema, pi->name, range, rows, err);
done:
    buf_free(&sql);
    return ok;
}

/* Until a table's conversion is finalized its old table is the rollback
 * point, kept equal to the new one by a trigger: retention or a DEFAULT
 * drain now would make the two disagree.  *WAITS says WHAT waits. */
static bool conversion_waits(Table *t, const char *what, bool *waits, Err *err)
{
    const char *kept;
    if (!msql_conversion_open(t->m->c, t->p.schema, t->p.table, t->m->arena, waits, &kept, err))
        return false;
    if (*waits)
        printf("%s: %s waits until the conversion is finalized (\"%s\" is its rollback point); "
               "run \"partmig finalize %s\"\n",
               t->qname, what, kept, t->qname);
    return true;
}

static bool step_retention(Table *t, Err *err)
{
    Maint *m = t->m;
    if (!refresh(t, err))
        return table_fail(t, err);
    bool waits;
    if (!conversion_waits(t, "retention", &waits, err))
        return table_fail(t, err);
    if (waits)
        return true;
    const char *cut = cutoff(t, t->p.retention.keep, NULL);
    int newest = newest_part(t);
    bool has_default = default_part(t) != NULL;
    bool ok = true;
    for (int i = 0; i < t->nparts; i++) {
        const PartInfo *pi = &t->parts[i];
        bool due = false;
        if (i == newest || pi->is_default)
            continue;
        if (!upper_at_or_before(t, pi, cut, &due, err)) {
            ok = table_fail(t, err);
            continue;
        }
        if (!due)
            continue;
        const char *fk = "";
        if (!msql_fk_reference(m->c, pi->schema, pi->name, t->p.schema, t->p.table, m->arena, &fk, err)) {
            ok = table_fail(t, err);
            continue;
        }
        if (*fk) {
            fflush(stdout);
            fprintf(stderr,
                    "partmig: %s: partition %s %s is due for retention but foreign key %s references %s: kept\n"
                    "hint: drop or re-point the foreign key, or detach the partition by hand\n",
                    t->qname, pi->name, part_range(t, pi), fk, pi->name);
            continue;
        }
        if (!remove_partition(t, pi, has_default, err))
            ok = table_fail(t, err);
    }
    return ok;
}

/* Finish what a killed run left: pending detaches, recorded removals. */
static bool step_pending(Table *t, Err *err)
{
    Maint *m = t->m;
    const char **names;
    int n;
    bool ok = true;
    if (!msql_detach_pending(m->c, t->p.schema, t->p.table, m->arena, &names, &n, err))
        return table_fail(t, err);
    for (int i = 0; i < n; i++) {
        Buf sql = {0};
        msql_detach(&sql, t->p.schema, t->p.table, t->p.schema, names[i], "FINALIZE");
        if (m->o.dry_run)
            say(t, "finish the interrupted detach of partition %s (DETACH ... FINALIZE)", names[i]);
        else if (run_stmt(t, names[i], buf_str(&sql), err))
            say(t, "finished the interrupted detach of partition %s (DETACH ... FINALIZE)", names[i]);
        else
            ok = table_fail(t, err);
        buf_free(&sql);
    }
    bool exists = false;
    if (!msql_pending_exists(m->c, &exists, err))
        return table_fail(t, err);
    if (!exists)
        return ok;
    const char **schemas, **bounds;
    if (!msql_pending_list(m->c, t->qname, m->arena, &schemas, &names, &bounds, &n, err))
        return table_fail(t, err);
    for (int i = 0; i < n; i++) {
        bool present = false, partition = false;
        int64_t rows = 0;
        if (!msql_relation_state(m->c, schemas[i], names[i], &present, &partition, err)) {
            ok = table_fail(t, err);
            continue;
        }
        if (!present || partition) {
            /* gone, or the detach never happened: retention decides afresh */
            if (!m->o.dry_run && !msql_pending_forget(m->c, schemas[i], names[i], err))
                ok = table_fail(t, err);
            continue;
        }
        if (!catalog_count_rows(m->c, schemas[i], names[i], &rows, err)) {
            ok = table_fail(t, err);
            continue;
        }
        if (m->o.dry_run)
            say(t, "finish the removal of detached partition %s %s (%lld rows) %s", names[i], bounds[i],
                (long long)rows, dispose_words(t));
        else if (!dispose(t, schemas[i], names[i], bounds[i], rows, err))
            ok = table_fail(t, err);
    }
    return ok;
}

/* ---- premake ---- */

static bool create_partition(Table *t, const PartitionSpec *s, const PartInfo *def, Err *err)
{
    Maint *m = t->m;
    bool present = false, partition = false;
    if (!msql_relation_state(m->c, t->p.schema, s->name, &present, &partition, err))
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
        spec_params(t, s, &lo, &hi);
        if (!catalog_count_range(m->c, def->schema, def->name, t->p.column, lo, hi, &rows, err))
            return false;
        if (rows) {
            err_set(err, PM_EDB, "cannot create partition %s %s: DEFAULT partition %s holds %lld rows of that range",
                    s->name, spec_range(t, s), def->name, (long long)rows);
            return err_hint(err, "run \"partmig maintain --drain-default\" to move them into their partitions");
        }
    }
    if (m->o.dry_run) {
        say(t, "create partition %s %s", s->name, spec_range(t, s));
        return true;
    }
    Buf sql = {0};
    partition_create_sql(&sql, &t->p, t->p.table, s);
    Tx x = {.script = buf_str(&sql), .carry_name = s->name};
    bool ok = run_tx(t, &x, arena_printf(m->arena, "%s.%s", t->p.schema, s->name),
                     "SHARE UPDATE EXCLUSIVE on the table", err);
    buf_free(&sql);
    if (ok)
        say(t, "created partition %s %s", s->name, spec_range(t, s));
    return ok;
}

static bool step_premake(Table *t, Err *err)
{
    PartitionSpec *specs;
    int n;
    const char *from, *to;
    if (!premake_ahead(t->m->c, &t->p, &t->ti, t->m->arena, &specs, &n, &from, &to, err) || !refresh(t, err))
        return table_fail(t, err);
    const PartInfo *def = default_part(t);
    bool ok = true;
    for (int i = 0; i < n; i++)
        if (!premake_spec_present(&specs[i], t->parts, t->nparts) && !create_partition(t, &specs[i], def, err))
            ok = table_fail(t, err);
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
    if (pi->relkind == 'p' && !msql_leaves(m->c, pi->schema, pi->name, m->arena, &schemas, &names, &n, err))
        return false;
    for (int i = 0; i < n; i++) {
        const char *cur = "";
        if (!msql_tablespace_of(m->c, schemas[i], names[i], m->arena, &cur, err))
            return false;
        if (!strcmp(cur, ts))
            continue;
        if (tier->exists < 0) {
            bool yes = false;
            if (!msql_tablespace_exists(m->c, ts, &yes, err))
                return false;
            tier->exists = yes;
        }
        if (!tier->exists) {
            err_set(err, PM_EDB, "tablespace \"%s\" does not exist: partitions older than the tiering rule stay", ts);
            return err_hint(err, "create it (CREATE TABLESPACE %s LOCATION '...') or change the policy's tiering", ts);
        }
        const char *range = part_range(t, pi);
        if (m->o.dry_run) {
            say(t, "move partition %s %s from tablespace %s to %s", names[i], range, cur, ts);
            continue;
        }
        Buf sql = {0};
        msql_set_tablespace(&sql, schemas[i], names[i], ts);
        Tx x = {.script = buf_str(&sql)};
        bool ok = run_tx(t, &x, arena_printf(m->arena, "%s.%s", schemas[i], names[i]),
                         "ACCESS EXCLUSIVE on the partition", err);
        buf_free(&sql);
        if (!ok)
            return false;
        say(t, "moved partition %s %s from tablespace %s to %s", names[i], range, cur, ts);
    }
    return true;
}

static bool step_tiering(Table *t, Err *err)
{
    Maint *m = t->m;
    if (!refresh(t, err))
        return table_fail(t, err);
    Tier *tiers = arena_alloc(m->arena, sizeof *tiers * (size_t)t->p.ntiers);
    for (int i = 0; i < t->p.ntiers; i++) {
        tiers[i].rule = &t->p.tiers[i];
        tiers[i].cut_text = cutoff(t, t->p.tiers[i].older_than, &tiers[i].cut);
        tiers[i].exists = -1;
    }
    /* oldest cut-off first: a partition goes to the coldest rule it passes */
    for (int i = 1; i < t->p.ntiers; i++)
        for (int j = i; j > 0 && walltime_cmp(tiers[j].cut, tiers[j - 1].cut) < 0; j--) {
            Tier tmp = tiers[j];
            tiers[j] = tiers[j - 1];
            tiers[j - 1] = tmp;
        }
    int newest = newest_part(t);
    bool ok = true, failed_tablespace = false;
    for (int i = 0; i < t->nparts && !failed_tablespace; i++) {
        const PartInfo *pi = &t->parts[i];
        if (i == newest || pi->is_default)
            continue;
        for (int k = 0; k < t->p.ntiers; k++) {
            bool due = false;
            if (!upper_at_or_before(t, pi, tiers[k].cut_text, &due, err)) {
                ok = table_fail(t, err);
                break;
            }
            if (!due)
                continue;
            if (!move_to_tablespace(t, pi, &tiers[k], err)) {
                ok = table_fail(t, err);
                failed_tablespace = tiers[k].exists == 0; /* said once is enough */
            }
            break;
        }
    }
    return ok;
}

/* ---- DEFAULT partition ---- */

static bool drain_range(Table *t, const PartInfo *def, const PartitionSpec *s, const char *columns, Err *err)
{
    Maint *m = t->m;
    const char *lo, *hi;
    int64_t rows = 0;
    spec_params(t, s, &lo, &hi);
    if (!catalog_count_range(m->c, def->schema, def->name, t->p.column, lo, hi, &rows, err))
        return false;
    if (!rows)
        return true;
    bool present = false, partition = false;
    if (!msql_relation_state(m->c, t->p.schema, s->name, &present, &partition, err))
        return false;
    if (present) {
        err_set(err, PM_EDB, "cannot drain %lld DEFAULT rows of %s into %s: a table \"%s.%s\" exists already",
                (long long)rows, spec_range(t, s), s->name, t->p.schema, s->name);
        return err_hint(err, partition ? "its bounds differ from the policy's; fix the partition by hand"
                                       : "rename or drop that table, then run maintain --drain-default again");
    }
    if (m->o.dry_run) {
        say(t, "move %lld rows from DEFAULT partition %s into new partition %s %s", (long long)rows, def->name, s->name,
            spec_range(t, s));
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
    bool ok = run_tx(t, &x, arena_printf(m->arena, "%s.%s", def->schema, def->name),
                     "SHARE ROW EXCLUSIVE on the table, EXCLUSIVE on the DEFAULT partition", err);
    if (ok)
        say(t, "moved %lld rows from DEFAULT partition %s into new partition %s %s (counted %lld before)",
            (long long)x.moved, def->name, s->name, spec_range(t, s), (long long)x.before);
    if (ok) {
        /* the moved rows' statistics, outside the move's lock (PostgreSQL
         * never analyzes a partition created with its rows until autovacuum
         * comes by) */
        Buf an = {0};
        buf_append(&an, "ANALYZE ");
        quote_qualified(&an, t->p.schema, s->name);
        ok = run_stmt(t, arena_printf(m->arena, "%s.%s", t->p.schema, s->name), buf_str(&an), err);
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

static bool step_drain(Table *t, Err *err)
{
    Maint *m = t->m;
    if (!refresh(t, err))
        return table_fail(t, err);
    const PartInfo *def = default_part(t);
    if (!def)
        return true;
    bool waits;
    if (!conversion_waits(t, "--drain-default", &waits, err))
        return table_fail(t, err);
    if (waits)
        return true;
    if (t->p.by != PART_RANGE || t->p.subpartition.set) {
        err_set(err, PM_EINPUT, "--drain-default handles range policies without subpartitions only");
        err_hint(err, "move the DEFAULT rows of this table by hand");
        return table_fail(t, err);
    }
    bool integer = t->p.interval.unit == UNIT_INTEGER;
    const char *dmin = "", *dmax = "", *columns = "";
    if (!catalog_key_range(m->c, def->schema, def->name, t->p.column, t->p.timezone, integer, m->arena, &dmin, &dmax,
                           err) ||
        !msql_column_list(m->c, t->p.schema, t->p.table, m->arena, &columns, err))
        return table_fail(t, err);
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
        to = arena_strdup(m->arena, buf_str(&b));
        buf_free(&b);
    }
    PartitionSpec *specs;
    int n;
    if (!partitions_range(&t->p, dmin, to, m->arena, &specs, &n, err))
        return table_fail(t, err);
    bool ok = true;
    for (int i = 0; i < n; i++)
        if (!drain_range(t, def, &specs[i], columns, err))
            ok = table_fail(t, err);
    return ok;
}

static bool report_default(Table *t, Err *err)
{
    if (!refresh(t, err))
        return table_fail(t, err);
    const PartInfo *def = default_part(t);
    if (!def)
        return true;
    int64_t rows = 0;
    if (!catalog_count_rows(t->m->c, def->schema, def->name, &rows, err))
        return table_fail(t, err);
    printf("%s: DEFAULT partition %s holds %lld rows\n", t->qname, def->name, (long long)rows);
    if (rows && !t->m->drain && t->p.by == PART_RANGE)
        printf("%s: hint: \"partmig maintain --drain-default\" moves them into their partitions\n", t->qname);
    return true;
}

/* ---- pg_partman ---- */

typedef struct PartmanTx {
    Table *t;
    bool retention;
} PartmanTx;

static bool partman_body(void *ctx, Err *err)
{
    PartmanTx *x = ctx;
    return msql_partman_run(x->t->m->c, x->t->qname, x->retention, err);
}

/* partman.run_maintenance() for this table alone, compared before and
 * after: what pg_partman made and removed is reported like partmig's own
 * changes.  Until the table's conversion is finalized its retention does
 * not run (the old table is the rollback point and must keep matching). */
static bool step_partman(Table *t, Err *err)
{
    Maint *m = t->m;
    bool waits;
    if (!conversion_waits(t, "pg_partman's retention", &waits, err))
        return table_fail(t, err);
    if (m->o.dry_run) {
        printf("%s: would run partman.run_maintenance('%s')%s\n", t->qname, t->qname,
               waits ? " with its retention held back" : "");
        return true;
    }
    const char **oids, **schemas, **names, **oids2, **schemas2, **names2;
    int64_t *rows, *rows2;
    bool *est, *est2;
    int n = 0, n2 = 0;
    if (!msql_children(m->c, t->p.schema, t->p.table, m->arena, &oids, &schemas, &names, &rows, &est, &n, err))
        return table_fail(t, err);
    PartmanTx x = {t, !waits};
    if (!runner_tx(m->c, LOCK_TIMEOUT, m->o.lock_retries, t->qname, "the locks pg_partman's maintenance takes",
                   t->p.schema, t->p.table, partman_body, &x, err))
        return table_fail(t, err);
    if (!msql_children(m->c, t->p.schema, t->p.table, m->arena, &oids2, &schemas2, &names2, &rows2, &est2, &n2, err))
        return table_fail(t, err);
    for (int i = 0; i < n; i++) {
        bool kept = false;
        for (int k = 0; k < n2 && !kept; k++)
            kept = !strcmp(oids[i], oids2[k]);
        if (kept)
            continue;
        const char *now = "";
        if (!msql_relation_name(m->c, oids[i], m->arena, &now, err))
            return table_fail(t, err);
        if (*now)
            say(t, "pg_partman detached partition %s (%s%lld rows), kept as %s", names[i], est[i] ? "about " : "",
                (long long)rows[i], now);
        else
            say(t, "pg_partman dropped partition %s (%s%lld rows)", names[i], est[i] ? "about " : "",
                (long long)rows[i]);
    }
    for (int k = 0; k < n2; k++) {
        bool old = false;
        for (int i = 0; i < n && !old; i++)
            old = !strcmp(oids[i], oids2[k]);
        if (!old)
            say(t, "pg_partman created partition %s", names2[k]);
    }
    return true;
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
        return table_fail(t, err);
    }
    if (!catalog_table_info(m->c, t->p.schema, t->p.table, m->arena, &t->ti, err))
        return table_fail(t, err);
    if (!t->ti.exists || t->ti.relkind != 'p') {
        err_set(err, PM_EDB, "table %s", t->ti.exists ? "is not partitioned" : "does not exist");
        err_hint(err, "run \"partmig apply\" first (or unregister the policy)");
        return table_fail(t, err);
    }
    if (t->p.backend == BACKEND_PG_PARTMAN) {
        bool ok = step_partman(t, err);
        return report_default(t, err) && ok;
    }
    t->time_key = t->p.by == PART_RANGE && t->p.interval.unit != UNIT_INTEGER;
    const char *horizon;
    if (t->time_key && !premake_horizon(m->c, &t->p, m->arena, &t->now, &horizon, err))
        return table_fail(t, err);
    bool ok = step_pending(t, err);
    if (m->drain)
        ok = step_drain(t, err) && ok;
    ok = step_premake(t, err) && ok;
    if (t->time_key && t->p.retention.set)
        ok = step_retention(t, err) && ok;
    if (t->time_key && t->p.ntiers)
        ok = step_tiering(t, err) && ok;
    return report_default(t, err) && ok;
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
    fflush(stdout);
    fprintf(stderr, "partmig: warning: cannot record the maintain run in the ledger: %s\n", err->msg);
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

/* Options: runner_parse's, plus --drain-default. */
static int parse_options(int argc, char **argv, Maint *m)
{
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args)
        return PM_EDB;
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--drain-default") && strcmp(argv[i - 1], "--db") != 0)
            m->drain = true;
        else
            args[n++] = argv[i];
    }
    int rc = runner_parse(n, args, OPT_DB | OPT_DRY_RUN | OPT_WAIT | OPT_RETRIES, maintain_usage, &m->o);
    free(args);
    return rc;
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
    if (!msql_in_recovery(m.c, &standby, &err))
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
        fflush(stdout);
        fprintf(stderr, "partmig: maintenance failed for %d of %d table(s)\n", failed, n);
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
