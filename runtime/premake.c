/* premake.c: the premake window shared by apply and maintain. */
#include "premake.h"

#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"
#include "../model/interval.h"
#include "../common/quote.h"

static WallTime parse_hour(const char *text)
{
    WallTime t = {1970, 1, 1, 0};
    walltime_parse(text, &t);
    return t;
}

static const char *format_wall(Arena *arena, WallTime t)
{
    Buf b = {0};
    walltime_format(&b, t);
    return buf_to_arena(&b, arena);
}

/* The window's exclusive end: now + premake intervals, and the hour after.
 * TNOW is now to the hour (00:06 reads as 00:00), so the instant now +
 * premake lies in [tnow + premake, that + 1 hour): ending the window at
 * tnow + premake left out the partition holding that instant for the
 * first hour after each boundary (on the 1st of a month, 00:06, monthly
 * partitions through now + 1 month stopped short of next month's).  False
 * (with ERR) past year 9999. */
static bool horizon_of(const Policy *p, WallTime tnow, WallTime *upto, Err *err)
{
    if (!interval_add_checked(p->interval, tnow, p->premake, upto)) {
        err_set(err, PM_EINPUT,
                "table \"%s\": now plus premake %d x the interval passes %d-12-31, the latest date "
                "partmig handles",
                p->table, p->premake, WALLTIME_MAX_YEAR);
        return err_hint(err, "a shorter interval or a smaller premake");
    }
    *upto = interval_add((Interval){UNIT_HOUR, 1}, *upto, 1);
    return true;
}

bool premake_horizon(PgConn *c, const Policy *p, Arena *arena, const char **now, const char **horizon, Err *err)
{
    const char *text = "";
    if (!catalog_now_in_zone(c, p->timezone, arena, &text, err))
        return false;
    WallTime tnow = parse_hour(text), upto;
    if (!horizon_of(p, tnow, &upto, err))
        return false;
    *now = format_wall(arena, tnow);
    *horizon = format_wall(arena, upto);
    return true;
}

/* Range partitions for [FROM, TO) followed by the fixed ones. */
static bool layout(const Policy *p, const char *from, const char *to, Arena *arena, PartitionSpec **specs, int *n,
                   Err *err)
{
    PartitionSpec *fixed = NULL, *range = NULL;
    int nfixed = 0, nrange = 0;
    partitions_fixed(p, arena, &fixed, &nfixed);
    if (p->by == PART_RANGE && !partitions_range(p, from, to, arena, &range, &nrange, err))
        return false;
    *specs = arena_alloc(arena, sizeof **specs * (size_t)(nrange + nfixed + 1));
    for (int i = 0; i < nrange; i++)
        (*specs)[(*n)++] = range[i];
    for (int i = 0; i < nfixed; i++)
        (*specs)[(*n)++] = fixed[i];
    return true;
}

/* An integer key or start as text: a bigint, else PM_EINPUT naming WHAT. */
static bool integer_of(const Policy *p, const char *what, const char *text, int64_t *out, Err *err)
{
    if (int64_parse(text, out))
        return true;
    err_set(err, PM_EINPUT, "table \"%s\": %s \"%s\" is not an integer in the bigint range %lld .. %lld", p->table,
            what, text, (long long)INT64_MIN, (long long)INT64_MAX);
    return err_hint(err, "integer range keys are bigint");
}

/* Integer keys: [LO, largest key + 1 + premake steps); LO as the caller says.
 * Checked: an end past the largest bigint is an error, never a wrapped
 * number. */
static bool integer_to(const Policy *p, const char *dmax, int64_t lo, Arena *arena, const char **to, Err *err)
{
    int64_t step = p->interval.count, hi = lo, span, end;
    if (*dmax) {
        int64_t mx;
        if (!integer_of(p, "largest key", dmax, &mx, err))
            return false;
        if (__builtin_add_overflow(mx, 1, &hi))
            goto too_far;
    }
    if (hi < lo)
        hi = lo;
    if (__builtin_mul_overflow(step, (int64_t)(p->premake > 0 ? p->premake : 1), &span) ||
        __builtin_add_overflow(hi, span, &end))
        goto too_far;
    *to = arena_printf(arena, "%lld", (long long)end);
    return true;
too_far:
    err_set(err, PM_EINPUT,
            "table \"%s\": partitions past the largest key (%s) plus premake %d x %lld would end past %lld, the "
            "largest bigint",
            p->table, *dmax ? dmax : "none", p->premake, (long long)step, (long long)INT64_MAX);
    return err_hint(err, "lower the step (interval) or premake; keys this close to the bigint limit leave no room "
                         "for partitions ahead");
}

/* The lowest finite lower bound among the range partitions of P's table,
 * as bound text ("" when none): maintain fills the gaps above it. */
static bool first_lower(PgConn *c, const Policy *p, Arena *arena, const char **lower, Err *err)
{
    PartInfo *parts = NULL;
    int n = 0;
    *lower = "";
    if (!catalog_partitions(c, p->schema, p->table, arena, &parts, &n, err))
        return false;
    for (int i = 0; i < n; i++) /* range partitions come ordered by lower bound */
        if (!parts[i].is_default && parts[i].from && *parts[i].from && strcmp(parts[i].from, "MINVALUE")) {
            *lower = parts[i].from;
            break;
        }
    return true;
}

static bool window(PgConn *c, const Policy *p, const TableInfo *ti, bool from_now, Arena *arena, PartitionSpec **specs,
                   int *n, const char **from, const char **to, Err *err)
{
    *specs = NULL;
    *n = 0;
    *from = *to = "";
    if (p->by != PART_RANGE)
        return layout(p, "", "", arena, specs, n, err);
    bool integer = p->interval.unit == UNIT_INTEGER;
    const char *dmin = "", *dmax = "";
    /* maintain's time window is the clock's alone: it never scans the data.
     * Nor does apply's once the table is partitioned: every row already sits
     * in a partition (a DEFAULT one included), and a full scan for min/max
     * would cost the table's size for nothing.  Integer keys still read the
     * largest key, their "now". */
    bool read_data = ti->exists && (integer || (!from_now && ti->relkind != 'p'));
    if (read_data &&
        !catalog_key_range(c, p->schema, p->table, p->column, p->timezone, integer, arena, &dmin, &dmax, err))
        return false;
    /* maintain also fills gaps left between existing partitions (dropped
     * or detached by hand): its window starts at the first partition */
    const char *first = "";
    if (from_now && ti->exists && ti->relkind == 'p' && !first_lower(c, p, arena, &first, err))
        return false;
    if (integer) {
        int64_t lo = 0;
        const char *lo_text = from_now ? (*dmax ? dmax : p->start) : (p->start ? p->start : *dmin ? dmin : NULL);
        if (lo_text && !integer_of(p, lo_text == p->start ? "start" : "key", lo_text, &lo, err))
            return false;
        int64_t first_lo;
        if (*first && int64_parse(first, &first_lo) && (!lo_text || first_lo < lo))
            lo = first_lo;
        *from = arena_printf(arena, "%lld", (long long)lo);
        if (!integer_to(p, dmax, lo, arena, to, err))
            return false;
    } else {
        const char *now = "", *horizon = "";
        if (!premake_horizon(c, p, arena, &now, &horizon, err))
            return false;
        WallTime upto = parse_hour(horizon);
        if (from_now) {
            *from = now;
            const char *first_wall = NULL;
            WallTime fw, nw;
            if (*first && !catalog_bound_wall(c, ti->key_type, first, p->timezone, arena, &first_wall, err))
                return false;
            if (first_wall && walltime_parse(first_wall, &fw) && walltime_parse(now, &nw) && walltime_cmp(fw, nw) < 0) {
                /* not below retention's cutoff: partitions due there are
                 * gone on purpose (one a foreign key kept leaves a gap) */
                WallTime cut;
                if (p->retention.set && interval_add_checked(p->retention.keep, nw, -1, &cut) &&
                    walltime_cmp(fw, cut) < 0)
                    fw = cut;
                *from = format_wall(arena, fw);
            }
        } else {
            *from = p->start ? p->start : *dmin ? dmin : now;
            if (*dmax) {
                WallTime dm;
                if (!walltime_parse(dmax, &dm) || !interval_add_checked((Interval){UNIT_HOUR, 1}, dm, 1, &dm)) {
                    err_set(err, PM_EINPUT, "table \"%s\": largest key \"%s\" is not a time partmig can bound",
                            p->table, dmax);
                    return err_hint(err, "partition bounds stay within years %d..%d", WALLTIME_MIN_YEAR,
                                    WALLTIME_MAX_YEAR);
                }
                if (walltime_cmp(dm, upto) > 0)
                    upto = dm;
            }
        }
        *to = format_wall(arena, upto);
    }
    return layout(p, *from, *to, arena, specs, n, err);
}

bool premake_layout(PgConn *c, const Policy *p, const TableInfo *ti, Arena *arena, PartitionSpec **specs, int *n,
                    const char **from, const char **to, Err *err)
{
    return window(c, p, ti, false, arena, specs, n, from, to, err);
}

bool premake_ahead(PgConn *c, const Policy *p, const TableInfo *ti, Arena *arena, PartitionSpec **specs, int *n,
                   const char **from, const char **to, Err *err)
{
    return window(c, p, ti, true, arena, specs, n, from, to, err);
}

bool premake_spec_present(const PartitionSpec *spec, const PartInfo *parts, int nparts)
{
    bool is_default = !strcmp(spec->bound_sql, "DEFAULT");
    for (int i = 0; i < nparts; i++)
        if (!strcmp(parts[i].name, spec->name) || (is_default && parts[i].is_default))
            return true;
    return false;
}

bool premake_range_params(const Policy *p, const PartitionSpec *spec, Arena *arena, const char **lo, const char **hi)
{
    if (p->by != PART_RANGE || strncmp(spec->bound_sql, "FOR VALUES FROM", 15) != 0)
        return false;
    if (p->interval.unit == UNIT_INTEGER) {
        *lo = arena_printf(arena, "%lld", (long long)spec->lower_int);
        *hi = arena_printf(arena, "%lld", (long long)spec->upper_int);
    } else {
        *lo = format_wall(arena, spec->lower);
        *hi = format_wall(arena, spec->upper);
    }
    return true;
}

bool premake_create_in_tx(PgConn *c, const Policy *p, const char *key_type, const PartitionSpec *spec, Arena *arena,
                          bool *created, const char **overlap, Err *err)
{
    *created = false;
    *overlap = NULL;
    /* under the table's lock: a range an existing partition covers is
     * asked of the catalog, not read from the server's refusal */
    const char *lo, *hi, *covered = "";
    if (premake_range_params(p, spec, arena, &lo, &hi) &&
        !catalog_range_overlap(c, p->schema, p->table, key_type, p->timezone, lo, hi, arena, &covered, err))
        return false;
    if (*covered) {
        *overlap = covered;
        return true;
    }
    Buf sql = {0};
    partition_create_sql(&sql, p, p->table, spec);
    const char *carried;
    /* PostgreSQL gives a new partition none of the table's grants,
     * storage parameters or replica identity */
    bool ok = pg_exec_script(c, buf_str(&sql), err) &&
              catalog_partition_carry(c, p->schema, p->table, spec->name, arena, &carried, err);
    *created = ok;
    buf_free(&sql);
    return ok;
}

/* "col IN ('a', 'b')" for list partition SPEC: the literals of its bound,
 * quoted by partitions.c. */
static bool list_condition(Buf *b, const Policy *p, const PartitionSpec *spec, Err *err)
{
    static const char prefix[] = "FOR VALUES IN ";
    if (strncmp(spec->bound_sql, prefix, sizeof prefix - 1) != 0)
        return err_set(err, PM_EDB, "partition \"%s\" is not a list partition (%s)", spec->name, spec->bound_sql);
    quote_ident(b, p->column);
    buf_printf(b, " IN %s", spec->bound_sql + sizeof prefix - 1);
    return true;
}

static bool count_rows(PgConn *c, const char *sql, int64_t *rows, Err *err)
{
    PgResult *r = NULL;
    if (!pg_exec(c, sql, 0, NULL, &r, err))
        return false;
    *rows = pg_get_int(r, 0, 0);
    pg_result_free(r);
    return true;
}

bool premake_list_default_rows(PgConn *c, const Policy *p, const PartInfo *def, const PartitionSpec *spec,
                               int64_t *rows, Err *err)
{
    Buf q = {0};
    buf_append(&q, "SELECT count(*) FROM ");
    quote_qualified(&q, def->schema, def->name);
    buf_append(&q, " WHERE ");
    bool ok = list_condition(&q, p, spec, err) && count_rows(c, buf_str(&q), rows, err);
    buf_free(&q);
    return ok;
}

bool premake_list_move_in_tx(PgConn *c, const Policy *p, const PartInfo *def, const PartitionSpec *spec, Arena *arena,
                             int64_t *moved, Err *err)
{
    *moved = 0;
    if (p->subpartition.set) {
        err_set(err, PM_EINPUT,
                "table \"%s\": the DEFAULT partition holds rows of new list partition \"%s\", and partmig moves "
                "them only for policies without subpartitions",
                p->table, spec->name);
        return err_hint(err, "move those rows out of DEFAULT by hand, then run apply again");
    }
    const char *columns = "";
    Buf q = {0}, cond = {0};
    bool ok = false;
    int64_t before = 0;
    if (!list_condition(&cond, p, spec, err) || !catalog_column_list(c, p->schema, p->table, arena, &columns, err))
        goto done;
    /* writers of the parent already wait on the caller's lock; DEFAULT too,
     * for a writer addressing the partition directly */
    buf_append(&q, "LOCK TABLE ");
    quote_qualified(&q, def->schema, def->name);
    buf_append(&q, " IN EXCLUSIVE MODE");
    if (!pg_run(c, buf_str(&q), err))
        goto done;
    buf_reset(&q);
    buf_append(&q, "SELECT count(*) FROM ");
    quote_qualified(&q, def->schema, def->name);
    buf_printf(&q, " WHERE %s", buf_str(&cond));
    if (!count_rows(c, buf_str(&q), &before, err))
        goto done;
    buf_reset(&q);
    buf_append(&q, "CREATE TABLE ");
    quote_qualified(&q, p->schema, spec->name);
    buf_append(&q, " (LIKE ");
    quote_qualified(&q, p->schema, p->table);
    buf_append(&q, " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)");
    if (!pg_run(c, buf_str(&q), err))
        goto done;
    buf_reset(&q);
    buf_append(&q, "WITH moved AS (DELETE FROM ");
    quote_qualified(&q, def->schema, def->name);
    buf_printf(&q, " WHERE %s RETURNING %s), ins AS (INSERT INTO ", buf_str(&cond), columns);
    quote_qualified(&q, p->schema, spec->name);
    buf_printf(&q, " (%s) SELECT %s FROM moved RETURNING 1) SELECT count(*) FROM ins", columns, columns);
    if (!count_rows(c, buf_str(&q), moved, err))
        goto done;
    if (*moved != before) {
        err_set(err, PM_EDB,
                "table \"%s\": moved %lld row(s) from DEFAULT into \"%s\", counted %lld there before; nothing was "
                "changed",
                p->table, (long long)*moved, spec->name, (long long)before);
        err_hint(err, "run apply again; if it repeats, check the DEFAULT partition by hand");
        goto done;
    }
    buf_reset(&q);
    buf_append(&q, "ALTER TABLE ");
    quote_qualified(&q, p->schema, p->table);
    buf_append(&q, " ATTACH PARTITION ");
    quote_qualified(&q, p->schema, spec->name);
    buf_printf(&q, " %s", spec->bound_sql);
    const char *carried;
    ok = pg_run(c, buf_str(&q), err) &&
         catalog_partition_carry(c, p->schema, p->table, spec->name, arena, &carried, err);
done:
    buf_free(&q);
    buf_free(&cond);
    return ok;
}

bool premake_drop_default_in_tx(PgConn *c, const Policy *p, const PartInfo *def, Err *err)
{
    Buf q = {0};
    bool ok = false;
    int64_t rows = 0;
    buf_append(&q, "LOCK TABLE ");
    quote_qualified(&q, p->schema, p->table);
    buf_append(&q, " IN ACCESS EXCLUSIVE MODE");
    if (!pg_run(c, buf_str(&q), err))
        goto done;
    buf_reset(&q);
    buf_append(&q, "SELECT count(*) FROM ");
    quote_qualified(&q, def->schema, def->name);
    if (!count_rows(c, buf_str(&q), &rows, err))
        goto done;
    if (rows) {
        err_set(err, PM_EINPUT,
                "table \"%s\": default_partition = false, but its DEFAULT partition \"%s\" holds %lld row(s)", p->table,
                def->name, (long long)rows);
        err_hint(err, "give those rows partitions first (list: add their values to the policy; range: \"partmig "
                      "maintain --drain-default\"), or set default_partition = true again; then \"partmig compile\" "
                      "and \"partmig apply\"");
        goto done;
    }
    buf_reset(&q);
    buf_append(&q, "ALTER TABLE ");
    quote_qualified(&q, p->schema, p->table);
    buf_append(&q, " DETACH PARTITION ");
    quote_qualified(&q, def->schema, def->name);
    buf_append(&q, ";\nDROP TABLE ");
    quote_qualified(&q, def->schema, def->name);
    buf_append(&q, ";");
    ok = pg_exec_script(c, buf_str(&q), err);
done:
    buf_free(&q);
    return ok;
}
