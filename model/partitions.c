/* partitions.c: partition bounds, names and CREATE ... PARTITION OF text. */
#include "partitions.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../common/quote.h"

#define MAX_NAME 63

bool partition_key_is_date(const Policy *p)
{
    const char *type = p->key_type && *p->key_type ? p->key_type : NULL;
    for (int i = 0; !type && p->column && i < p->ncolumns; i++)
        if (p->columns[i].name && !strcmp(p->columns[i].name, p->column))
            type = p->columns[i].type;
    /* "date", or a column definition "date not null" */
    return type && !strncasecmp(type, "date", 4) && (!type[4] || isspace((unsigned char)type[4]));
}

void partition_bound_text(Buf *b, const Policy *p, WallTime t)
{
    if (t.hour == 0 && partition_key_is_date(p))
        buf_printf(b, "%04d-%02d-%02d", t.year, t.month, t.day);
    else
        walltime_format(b, t);
}

void partition_bound_literal(Buf *b, const Policy *p, WallTime t)
{
    Buf tmp = {0};
    partition_bound_text(&tmp, p, t);
    if (t.hour != 0 || !partition_key_is_date(p))
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

int partition_relations_each(const Policy *p)
{
    const Subpartition *sp = &p->subpartition;
    if (!sp->set)
        return 1;
    return 1 + (sp->by == PART_HASH ? sp->modulus : sp->nlists);
}

bool partitions_within_cap(const Policy *p, int64_t npartitions, Err *err)
{
    int each = partition_relations_each(p);
    int64_t total;
    if (!__builtin_mul_overflow(npartitions, (int64_t)each, &total) && total <= PARTITIONS_MAX)
        return true;
    if (each == 1)
        err_set(err, PM_EINPUT, "table \"%s\" would have more than %d partitions", p->table, PARTITIONS_MAX);
    else
        err_set(err, PM_EINPUT,
                "table \"%s\" would have more than %d partitions: %lld partitions x (1 + %d subpartitions) is %lld",
                p->table, PARTITIONS_MAX, (long long)npartitions, each - 1,
                __builtin_mul_overflow(npartitions, (int64_t)each, &total) ? (long long)INT64_MAX : (long long)total);
    return err_hint(err, "a longer interval, a later start, a smaller modulus or fewer subpartitions; the cap counts "
                         "every table partmig creates, subpartitions included");
}

/* Room for one more spec in *OUT (N used, CAP allocated); NULL with ERR past
 * PARTITIONS_MAX (subpartitions counted). */
static PartitionSpec *next_spec(const Policy *p, Arena *arena, PartitionSpec **out, int *n, int *cap, Err *err)
{
    if (!partitions_within_cap(p, (int64_t)*n + 1, err))
        return NULL;
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
        int64_t lo, hi, anchor = 0, step = p->interval.count, v;
        if (!int64_parse(from, &lo) || !int64_parse(to, &hi)) {
            err_set(err, PM_EINPUT, "bad integer range \"%s\" .. \"%s\"", from, to);
            err_hint(err, "integer range keys are bigint: %lld .. %lld", (long long)INT64_MIN, (long long)INT64_MAX);
            goto done;
        }
        if (p->start && !int64_parse(p->start, &anchor)) {
            err_set(err, PM_EINPUT, "bad integer start \"%s\"", p->start);
            err_hint(err, "integer range keys are bigint: %lld .. %lld", (long long)INT64_MIN, (long long)INT64_MAX);
            goto done;
        }
        if (step <= 0) {
            err_set(err, PM_EINPUT, "integer step must be positive");
            goto done;
        }
        if (!interval_floor_int_checked(step, anchor, lo, &v)) {
            err_set(err, PM_EINPUT, "the partition holding %lld would start below %lld, the smallest bigint",
                    (long long)lo, (long long)INT64_MIN);
            err_hint(err, "choose a \"start\" (or a step) that puts a partition boundary at or below the smallest key");
            goto done;
        }
        while (v < hi) {
            int64_t upper;
            if (__builtin_add_overflow(v, step, &upper)) {
                err_set(err, PM_EINPUT,
                        "the partition from %lld with step %lld would end past %lld, the largest bigint", (long long)v,
                        (long long)step, (long long)INT64_MAX);
                err_hint(err, "lower \"start\", the step or premake so that every bound stays within bigint");
                goto done;
            }
            PartitionSpec *ps = next_spec(p, arena, out, n, &cap, err);
            if (!ps)
                goto done;
            ps->lower_int = v;
            ps->upper_int = upper;
            buf_reset(&b);
            partition_name(&b, tmpl, p->table, (WallTime){0}, v);
            if (!name_fits(buf_str(&b), err))
                goto done;
            ps->name = arena_strdup(arena, buf_str(&b));
            ps->bound_sql = arena_printf(arena, "FOR VALUES FROM (%lld) TO (%lld)", (long long)v, (long long)upper);
            v = upper;
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
    WallTime first, lower, upper;
    if (!interval_floor_checked(p->interval, anchor, lo, &first)) {
        err_set(err, PM_EINPUT, "the partition holding %s would start before year %d", from, WALLTIME_MIN_YEAR);
        err_hint(err, "partition bounds stay within years %d..%d", WALLTIME_MIN_YEAR, WALLTIME_MAX_YEAR);
        goto done;
    }
    for (int64_t k = 0;; k++) {
        if (!interval_add_checked(p->interval, first, k, &lower) ||
            (walltime_cmp(lower, hi) < 0 && !interval_add_checked(p->interval, first, k + 1, &upper))) {
            err_set(err, PM_EINPUT, "partitions up to %s would end past %d-12-31, the latest date partmig handles", to,
                    WALLTIME_MAX_YEAR);
            err_hint(err, "a shorter interval or a smaller premake");
            goto done;
        }
        if (walltime_cmp(lower, hi) >= 0)
            break;
        PartitionSpec *ps = next_spec(p, arena, out, n, &cap, err);
        if (!ps)
            goto done;
        ps->lower = lower;
        ps->upper = upper;
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
