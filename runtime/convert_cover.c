/* convert_cover.c: rows of the original table that no partition of the new
 * one takes -- found, given a partition, or reported in DEFAULT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/quote.h"
#include "../model/partitions.h"
#include "convert_internal.h"
#include "progress.h"
#include "runner.h"

/* A changed row (or, with ALL, any row) of the old table that no partition
 * of the shadow takes: its key and partition value ("id=5, created_at=...")
 * in *WHICH, NULL when none.  Range policies: outside [lower, upper) and
 * outside every partition made since; list policies: a value no list has. */
typedef struct Uncovered {
    const char **values; /* distinct partition values (range), owned by the arena */
    int n;
    const char *example; /* "key=..., column=value" of the first such row */
} Uncovered;

/* The partition column's value over alias o as the bound arithmetic reads
 * it (catalog_key_text_sql). */
static const char *part_value_sql(Conv *v)
{
    return catalog_key_text_sql(v->a, &v->f.part_key, arena_printf(v->a, "o.%s", quote_ident_str(v->a, v->p->column)));
}

static bool find_uncovered(Conv *v, bool all, Uncovered *u, Err *err)
{
    Arena *a = v->a;
    const TableFacts *f = &v->f;
    memset(u, 0, sizeof *u);
    const char *okl = sql_column_list(a, f->key, f->nkey, "o.");
    const char *lkl = sql_column_list(a, f->key, f->nkey, "l.");
    const char *val = part_value_sql(v);
    Buf q = {0};
    const char *params[2] = {NULL, NULL};
    int np = 0;
    if (all)
        buf_printf(&q, "SELECT DISTINCT %s FROM %s o WHERE true", val, v->q_table);
    else /* the change log drives: its few keys, each looked up by the old table's key (this runs in the swap,
          * the old table locked); OFFSET 0 keeps the planner from turning it into a scan of the old table
          * filtered by the bounds */
        buf_printf(&q,
                   "SELECT DISTINCT %s FROM (SELECT DISTINCT %s FROM %s) l CROSS JOIN LATERAL "
                   "(SELECT * FROM %s o WHERE (%s) = (%s) OFFSET 0) o WHERE true",
                   val, sql_column_list(a, f->key, f->nkey, ""), v->q_log, v->q_table, okl, lkl);
    if (v->p->by == PART_RANGE && !(v->row.lower && v->row.upper)) {
        /* no recorded range: every row is a candidate (to_regclass sorts them out) */
    } else if (v->p->by == PART_RANGE) {
        const char *col = arena_printf(a, "o.%s", quote_ident_str(a, v->p->column));
        buf_printf(&q, " AND NOT %s", catalog_key_in_range_sql(a, &f->part_key, col, "$1::text", "$2::text"));
        params[0] = v->row.lower;
        params[1] = v->row.upper;
        np = 2;
    } else if (v->p->by == PART_LIST) {
        /* list values hold no control characters (validate.c): one per line */
        Buf vals = {0};
        for (int i = 0; i < v->p->nlists; i++)
            for (int j = 0; j < v->p->lists[i].values.n; j++) {
                if (vals.len)
                    buf_putc(&vals, '\n');
                buf_append(&vals, v->p->lists[i].values.items[j]);
            }
        buf_printf(&q, " AND NOT (%s = ANY (string_to_array($1::text, E'\\n')))", val);
        params[0] = arena_strdup(a, buf_str(&vals));
        np = 1;
        buf_free(&vals);
    } else {
        buf_free(&q);
        return true; /* hash: every value has a partition */
    }
    buf_append(&q, " ORDER BY 1 LIMIT 10000");
    PgResult *r = NULL;
    bool ok = pg_exec(v->c, buf_str(&q), np, params, &r, err);
    buf_free(&q);
    if (!ok) {
        pg_result_free(r);
        return false;
    }
    u->n = pg_nrows(r);
    u->values = arena_alloc(a, sizeof *u->values * (size_t)(u->n + 1));
    for (int i = 0; i < u->n; i++)
        u->values[i] = arena_strdup(a, pg_get(r, i, 0));
    pg_result_free(r);
    if (u->n == 0)
        return true;
    /* the first such row, for the message (a rare path: a plain EXISTS does) */
    const char *changed =
        all ? "true" : arena_printf(a, "EXISTS (SELECT 1 FROM %s l WHERE (%s) = (%s))", v->q_log, lkl, okl);
    Buf e = {0};
    buf_printf(&e, "SELECT %s FROM %s o WHERE %s AND %s = $1::text LIMIT 1", sql_column_list(a, f->key, f->nkey, "o."),
               v->q_table, changed, val);
    const char *ep[] = {u->values[0]};
    ok = pg_exec(v->c, buf_str(&e), 1, ep, &r, err);
    buf_reset(&e);
    if (!ok) {
        buf_free(&e);
        return false;
    }
    for (int i = 0; pg_nrows(r) > 0 && i < f->nkey; i++)
        buf_printf(&e, "%s=%s, ", f->key[i], pg_isnull(r, 0, i) ? "NULL" : pg_get(r, 0, i));
    buf_printf(&e, "%s=%s", v->p->column, u->values[0]);
    u->example = arena_strdup(a, buf_str(&e));
    buf_free(&e);
    pg_result_free(r);
    return true;
}

bool conv_cover_changed_rows(Conv *v, bool all, int *made, Err *err)
{
    *made = 0;
    const Policy *p = v->p;
    if (p->by == PART_HASH || p->default_partition)
        return true;
    Uncovered u;
    if (!find_uncovered(v, all, &u, err))
        return false;
    if (u.n == 0)
        return true;
    if (p->by == PART_LIST) {
        err_set(err, PM_EDB,
                "\"%s\": %d row(s) written during the conversion fit no partition of %s (e.g. %s): the value is in "
                "none of the policy's lists",
                v->qname, u.n, v->q_shadow, u.example);
        return err_hint(err, "add the value to the policy's lists or set default_partition = true, compile, and run "
                             "apply again (the conversion resumes where it is)");
    }
    Buf b = {0};
    const char *last = "";
    for (int i = 0; i < u.n; i++) {
        const char *from = u.values[i], *to;
        if (p->interval.unit == UNIT_INTEGER) {
            int64_t x = strtoll(from, NULL, 10), anchor = p->start ? strtoll(p->start, NULL, 10) : 0, up;
            if (!interval_int_upper_checked(p->interval.count, anchor, x, 1, &up)) {
                buf_free(&b);
                err_set(err, PM_EDB,
                        "\"%s\": no partition can hold key value %s: it would end past "
                        "9223372036854775807, the largest bigint",
                        v->qname, from);
                return err_hint(err, "move or delete that row, then run apply again (the conversion resumes)");
            }
            to = arena_printf(v->a, "%lld", (long long)up);
        } else {
            WallTime anchor = {1970, 1, 1, 0}, t;
            if (p->start)
                walltime_parse(p->start, &anchor);
            if (!walltime_parse(from, &t)) {
                buf_free(&b);
                return err_set(err, PM_EDB, "\"%s\": cannot read partition value \"%s\"", v->qname, from);
            }
            Buf tb = {0};
            walltime_format(&tb, interval_add(p->interval, interval_floor(p->interval, anchor, t), 1));
            to = arena_strdup(v->a, buf_str(&tb));
            buf_free(&tb);
        }
        PartitionSpec *specs = NULL;
        int n = 0;
        if (!partitions_range(p, from, to, v->a, &specs, &n, err)) {
            buf_free(&b);
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            err_set(err, PM_EDB, "\"%s\": no partition for a row written during the conversion (%s): %s", v->qname,
                    u.example, msg);
            return err_hint(err, "move that row's %s into the policy's range, then run apply again", p->column);
        }
        for (int j = 0; j < n; j++) {
            if (!strcmp(specs[j].name, last))
                continue; /* values of one partition come in a row (sorted) */
            last = specs[j].name;
            PgResult *r = NULL;
            const char *params[] = {quote_qualified_str(v->a, p->schema, specs[j].name)};
            if (!pg_exec(v->c, "SELECT to_regclass($1) IS NULL", 1, params, &r, err)) {
                buf_free(&b);
                return false;
            }
            bool missing = pg_get(r, 0, 0)[0] == 't';
            pg_result_free(r);
            if (!missing)
                continue; /* made by an earlier round */
            partition_create_sql(&b, p, v->row.shadow, &specs[j]);
            (*made)++;
        }
    }
    if (*made == 0) {
        buf_free(&b);
        return true;
    }
    bool ok = conv_script(v->c, &b, err);
    buf_reset(&b);
    ok = ok && conv_owner_copy(v, v->q_shadow, v->f.owner, &b, err) && conv_reloptions_copy(v, v->q_shadow, &b, err) &&
         conv_script(v->c, &b, err);
    buf_free(&b);
    if (!ok) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        err_set(err, PM_EDB, "\"%s\": cannot add a partition for a row written during the conversion (%s): %s",
                v->qname, u.example, msg);
        return err_hint(err, "fix the cause above, then run apply again (the conversion resumes where it is)");
    }
    fprintf(stderr,
            "partmig: %s: added partition(s) to %s for rows written during the conversion outside its range "
            "(e.g. %s)\n",
            v->qname, v->q_shadow, u.example);
    return true;
}

bool conv_report_default_rows(Conv *v, Err *err)
{
    if (!v->p->default_partition)
        return true;
    PgResult *r = NULL;
    const char *params[] = {v->q_shadow};
    if (!pg_exec(v->c,
                 "SELECT t.relid::regclass::text FROM pg_partition_tree($1::regclass) t JOIN pg_class c ON c.oid ="
                 " t.relid WHERE t.isleaf AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'",
                 1, params, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        PgResult *rc = NULL;
        const char *col = quote_ident_str(v->a, v->p->column);
        if (!pg_exec(
                v->c,
                arena_printf(v->a, "SELECT count(*), min(%s)::text, max(%s)::text FROM %s", col, col, pg_get(r, i, 0)),
                0, NULL, &rc, err)) {
            pg_result_free(r);
            return false;
        }
        if (pg_get_int(rc, 0, 0) > 0)
            fprintf(stderr,
                    "partmig: %s: warning: %lld rows are in the DEFAULT partition %s (%s %s .. %s); `partmig maintain "
                    "--drain-default` moves them once partitions cover them\n",
                    v->qname, (long long)pg_get_int(rc, 0, 0), pg_get(r, i, 0), v->p->column, pg_get(rc, 0, 1),
                    pg_get(rc, 0, 2));
        pg_result_free(rc);
    }
    pg_result_free(r);
    return true;
}
