/* maintain_table.c: what maintain's steps share for one table -- its
 * messages and failure, its partitions as last read, bounds shown in the
 * policy's terms, the transaction bodies that detach, dump and drain, and
 * whether a conversion of the table holds maintenance back.  Below every
 * step (maintain_retention.c, maintain_premake.c) and the command
 * (maintain.c). */
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

/* Until a table's conversion is finalized its old table is the rollback
 * point, kept equal to the new one by a trigger: retention or a DEFAULT
 * drain now would make the two disagree.  *WAITS says WHAT waits. */
bool maint_conversion_waits(Table *t, const char *what, bool *waits, Err *err)
{
    const char *kept;
    if (!ledger_conversion_open(t->m->c, t->p.schema, t->p.table, t->m->arena, waits, &kept, err))
        return false;
    if (*waits)
        printf("%s: %s waits until the conversion is finalized (\"%s\" is its rollback point); "
               "run \"partmig finalize %s\"\n",
               t->qname, what, kept, t->qname);
    return true;
}
