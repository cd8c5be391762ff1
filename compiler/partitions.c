/* partitions.c: partition bounds, names and CREATE ... PARTITION OF text. */
#include "partitions.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "../common/quote.h"

#define MAX_PARTITIONS 100000
#define MAX_NAME       63

static bool parse_int64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = (int64_t)v;
    return true;
}

void partition_bound_literal(Buf *b, const Policy *p, WallTime t)
{
    Buf tmp = {0};
    walltime_format(&tmp, t);
    buf_printf(&tmp, " %s", p->timezone ? p->timezone : "UTC");
    quote_literal(b, buf_str(&tmp));
    buf_free(&tmp);
}

static bool name_fits(const char *name, Err *err)
{
    if (strlen(name) > MAX_NAME) {
        err_set(err, PM_EINPUT, "partition name \"%s\" is longer than %d bytes", name, MAX_NAME);
        return err_hint(err, "shorten the table name or the naming template");
    }
    return true;
}

/* Room for one more spec in *OUT (N used, CAP allocated); NULL with ERR past
 * MAX_PARTITIONS. */
static PartitionSpec *next_spec(const Policy *p, Arena *arena, PartitionSpec **out, int *n, int *cap, Err *err)
{
    if (*n >= MAX_PARTITIONS) {
        err_set(err, PM_EINPUT, "more than %d partitions for \"%s\"", MAX_PARTITIONS, p->table);
        return NULL;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *out = arena_grow(arena, *out, (size_t)*n, (size_t)*cap, sizeof **out);
    }
    return &(*out)[(*n)++];
}

bool partitions_range(const Policy *p, const char *from, const char *to, Arena *arena, PartitionSpec **out, int *n,
                      Err *err)
{
    *out = NULL;
    *n = 0;
    if (p->by != PART_RANGE)
        return err_set(err, PM_EINPUT, "table \"%s\" is not range-partitioned", p->table);
    const char *tmpl = policy_naming(p);
    Buf b = {0};
    int cap = 0;
    bool ok = false;

    if (p->interval.unit == UNIT_INTEGER) {
        int64_t lo, hi, anchor = 0, step = p->interval.count;
        if (!parse_int64(from, &lo) || !parse_int64(to, &hi)) {
            err_set(err, PM_EINPUT, "bad integer range \"%s\" .. \"%s\"", from, to);
            goto done;
        }
        if (p->start && !parse_int64(p->start, &anchor)) {
            err_set(err, PM_EINPUT, "bad integer start \"%s\"", p->start);
            goto done;
        }
        if (step <= 0) {
            err_set(err, PM_EINPUT, "integer step must be positive");
            goto done;
        }
        for (int64_t v = interval_floor_int(step, anchor, lo); v < hi; v += step) {
            PartitionSpec *ps = next_spec(p, arena, out, n, &cap, err);
            if (!ps)
                goto done;
            ps->lower_int = v;
            ps->upper_int = v + step;
            buf_reset(&b);
            partition_name(&b, tmpl, p->table, (WallTime){0}, v);
            if (!name_fits(buf_str(&b), err))
                goto done;
            ps->name = arena_strdup(arena, buf_str(&b));
            ps->bound_sql =
                arena_printf(arena, "FOR VALUES FROM (%lld) TO (%lld)", (long long)v, (long long)(v + step));
        }
        ok = true;
        goto done;
    }

    WallTime lo, hi, anchor = {1970, 1, 1, 0};
    if (!walltime_parse(from, &lo) || !walltime_parse(to, &hi)) {
        err_set(err, PM_EINPUT, "bad time range \"%s\" .. \"%s\"", from, to);
        goto done;
    }
    if (p->start && !walltime_parse(p->start, &anchor)) {
        err_set(err, PM_EINPUT, "bad start \"%s\"", p->start);
        goto done;
    }
    if (p->interval.unit == UNIT_NONE || p->interval.count <= 0) {
        err_set(err, PM_EINPUT, "table \"%s\" has no interval", p->table);
        goto done;
    }
    WallTime first = interval_floor(p->interval, anchor, lo);
    for (int64_t k = 0;; k++) {
        WallTime lower = interval_add(p->interval, first, k);
        if (walltime_cmp(lower, hi) >= 0)
            break;
        PartitionSpec *ps = next_spec(p, arena, out, n, &cap, err);
        if (!ps)
            goto done;
        ps->lower = lower;
        ps->upper = interval_add(p->interval, first, k + 1);
        buf_reset(&b);
        partition_name(&b, tmpl, p->table, lower, 0);
        if (!name_fits(buf_str(&b), err))
            goto done;
        ps->name = arena_strdup(arena, buf_str(&b));
        buf_reset(&b);
        buf_append(&b, "FOR VALUES FROM (");
        partition_bound_literal(&b, p, ps->lower);
        buf_append(&b, ") TO (");
        partition_bound_literal(&b, p, ps->upper);
        buf_append(&b, ")");
        ps->bound_sql = arena_strdup(arena, buf_str(&b));
    }
    ok = true;
done:
    buf_free(&b);
    return ok;
}

/* "FOR VALUES IN ('DE', 'FR')" */
static const char *list_bound(const StrList *values, Arena *arena)
{
    Buf b = {0};
    buf_append(&b, "FOR VALUES IN (");
    for (int i = 0; i < values->n; i++) {
        if (i)
            buf_append(&b, ", ");
        quote_literal(&b, values->items[i]);
    }
    buf_append(&b, ")");
    const char *s = arena_strdup(arena, buf_str(&b));
    buf_free(&b);
    return s;
}

void partitions_fixed(const Policy *p, Arena *arena, PartitionSpec **out, int *n)
{
    int count = (p->by == PART_HASH ? p->modulus : p->by == PART_LIST ? p->nlists : 0) + (p->default_partition ? 1 : 0);
    *out = count ? arena_alloc(arena, sizeof **out * (size_t)count) : NULL;
    *n = 0;
    Buf b = {0};
    if (p->by == PART_HASH) {
        for (int r = 0; r < p->modulus; r++) {
            PartitionSpec *ps = &(*out)[(*n)++];
            buf_reset(&b);
            partition_name(&b, policy_naming(p), p->table, (WallTime){0}, r);
            ps->name = arena_strdup(arena, buf_str(&b));
            ps->lower_int = r;
            ps->bound_sql = arena_printf(arena, "FOR VALUES WITH (MODULUS %d, REMAINDER %d)", p->modulus, r);
        }
    } else if (p->by == PART_LIST) {
        for (int i = 0; i < p->nlists; i++) {
            PartitionSpec *ps = &(*out)[(*n)++];
            ps->name = arena_printf(arena, "%s_%s", p->table, p->lists[i].name);
            ps->bound_sql = list_bound(&p->lists[i].values, arena);
        }
    }
    if (p->default_partition) {
        PartitionSpec *ps = &(*out)[(*n)++];
        ps->name = arena_printf(arena, "%s_default", p->table);
        ps->bound_sql = "DEFAULT";
    }
    buf_free(&b);
}

/* One "CREATE TABLE IF NOT EXISTS child PARTITION OF parent bound" line. */
static void create_one(Buf *b, const char *schema, const char *parent, const char *name, const char *bound)
{
    buf_append(b, "CREATE TABLE IF NOT EXISTS ");
    quote_qualified(b, schema, name);
    buf_append(b, " PARTITION OF ");
    quote_qualified(b, schema, parent);
    buf_printf(b, " %s", bound);
}

void partition_create_sql(Buf *b, const Policy *p, const char *parent, const PartitionSpec *ps)
{
    const Subpartition *sp = &p->subpartition;
    bool sub = sp->set && strcmp(ps->bound_sql, "DEFAULT") != 0;
    create_one(b, p->schema, parent, ps->name, ps->bound_sql);
    if (!sub) {
        buf_append(b, ";\n");
        return;
    }
    buf_printf(b, " PARTITION BY %s (", sp->by == PART_HASH ? "HASH" : "LIST");
    quote_ident(b, sp->column);
    buf_append(b, ");\n");
    Arena a = {0};
    if (sp->by == PART_HASH) {
        for (int r = 0; r < sp->modulus; r++) {
            char bound[96];
            snprintf(bound, sizeof bound, "FOR VALUES WITH (MODULUS %d, REMAINDER %d)", sp->modulus, r);
            char *name = arena_printf(&a, "%s_%d", ps->name, r);
            create_one(b, p->schema, ps->name, name, bound);
            buf_append(b, ";\n");
        }
    } else {
        for (int i = 0; i < sp->nlists; i++) {
            char *name = arena_printf(&a, "%s_%s", ps->name, sp->lists[i].name);
            create_one(b, p->schema, ps->name, name, list_bound(&sp->lists[i].values, &a));
            buf_append(b, ";\n");
        }
    }
    arena_free(&a);
}

size_t partition_subname_suffix_max(const Policy *p)
{
    const Subpartition *sp = &p->subpartition;
    if (!sp->set)
        return 0;
    size_t m = 0;
    if (sp->by == PART_HASH) {
        char tmp[16];
        m = (size_t)snprintf(tmp, sizeof tmp, "_%d", sp->modulus > 0 ? sp->modulus - 1 : 0);
    } else {
        for (int i = 0; i < sp->nlists; i++)
            if (strlen(sp->lists[i].name) + 1 > m)
                m = strlen(sp->lists[i].name) + 1;
    }
    return m;
}
