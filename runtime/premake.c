/* premake.c: the premake window shared by apply and maintain. */
#include "premake.h"

#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"
#include "../common/interval.h"

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
    const char *s = arena_strdup(arena, buf_str(&b));
    buf_free(&b);
    return s;
}

/* now + premake intervals, at least one hour ahead of now. */
static WallTime horizon_of(const Policy *p, WallTime tnow)
{
    WallTime upto = interval_add(p->interval, tnow, p->premake);
    if (!walltime_cmp(upto, tnow))
        upto = interval_add((Interval){UNIT_HOUR, 1}, tnow, 1);
    return upto;
}

bool premake_horizon(PgConn *c, const Policy *p, Arena *arena, const char **now, const char **horizon, Err *err)
{
    const char *text = "";
    if (!catalog_now_in_zone(c, p->timezone, arena, &text, err))
        return false;
    WallTime tnow = parse_hour(text);
    *now = format_wall(arena, tnow);
    *horizon = format_wall(arena, horizon_of(p, tnow));
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

/* Integer keys: [LO, largest key + 1 + premake steps); LO as the caller says. */
static const char *integer_to(const Policy *p, const char *dmax, long long lo, Arena *arena)
{
    long long step = p->interval.count;
    long long hi = *dmax ? strtoll(dmax, NULL, 10) + 1 : lo;
    if (hi < lo)
        hi = lo;
    return arena_printf(arena, "%lld", hi + step * (p->premake > 0 ? p->premake : 1));
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
    if (integer) {
        long long lo;
        if (from_now)
            lo = *dmax ? strtoll(dmax, NULL, 10) : p->start ? strtoll(p->start, NULL, 10) : 0;
        else
            lo = p->start ? strtoll(p->start, NULL, 10) : *dmin ? strtoll(dmin, NULL, 10) : 0;
        *from = arena_printf(arena, "%lld", lo);
        *to = integer_to(p, dmax, lo, arena);
    } else {
        const char *now = "", *horizon = "";
        if (!premake_horizon(c, p, arena, &now, &horizon, err))
            return false;
        WallTime upto = parse_hour(horizon);
        if (from_now)
            *from = now;
        else {
            *from = p->start ? p->start : *dmin ? dmin : now;
            if (*dmax) {
                WallTime dm = interval_add((Interval){UNIT_HOUR, 1}, parse_hour(dmax), 1);
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

bool premake_create_in_tx(PgConn *c, const Policy *p, const PartitionSpec *spec, Arena *arena, bool *created,
                          const char **overlap, Err *err)
{
    *created = false;
    *overlap = NULL;
    Buf sql = {0};
    partition_create_sql(&sql, p, p->table, spec);
    bool ok = pg_run(c, "SAVEPOINT partmig_premake", err);
    if (ok && pg_exec_script(c, buf_str(&sql), err)) {
        *created = true;
        ok = pg_run(c, "RELEASE SAVEPOINT partmig_premake", err);
    } else if (ok) {
        /* 42P17: "partition ... would overlap partition ..." */
        if (strcmp(pg_last_sqlstate(c), "42P17") != 0 || !strstr(err->msg, "would overlap")) {
            ok = false;
        } else {
            *overlap = arena_strdup(arena, err->msg);
            err_clear(err);
            ok = pg_run(c, "ROLLBACK TO SAVEPOINT partmig_premake", err);
        }
    }
    buf_free(&sql);
    return ok;
}
