/* preflight_facts.c: what pre-flight reads about an existing table before
 * it converts it (columns, keys, indexes, sequences, views, foreign keys,
 * row security, the partition key's range) and the partitions that will
 * cover its data.  Reads only; the checks on these facts are in
 * preflight.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/quote.h"
#include "../model/partitions.h"
#include "convert_internal.h"

/* ---- gathering facts ---- */

/* Runs SQL with params; on success *R holds the result (caller frees). */
static bool query(PgConn *c, const char *sql, int n, const char *const *params, PgResult **r, Err *err)
{
    return pg_exec(c, sql, n, params, r, err);
}

static const char **str_array(Arena *a, int n)
{
    return arena_alloc(a, sizeof(const char *) * (size_t)(n > 0 ? n : 1));
}

/* The partition key's range as catalog_key_text_sql reads it (wall time in
 * the policy's zone, or integer text).  min() and max() of the column
 * itself, so an index on it answers. */
static bool gather_key_range(PgConn *c, const Policy *p, const char *qtable, TableFacts *f, Arena *a, Err *err)
{
    const KeyType *k = &f->part_key;
    if (p->by != PART_RANGE || !(catalog_key_is_time(k) || k->kind == KEY_INTEGER))
        return true; /* an unsupported type is reported by the checks */
    const char *col = quote_ident_str(a, p->column);
    const char *sql =
        arena_printf(a, "SELECT %s, %s FROM %s", catalog_key_text_sql(a, k, arena_printf(a, "min(%s)", col)),
                     catalog_key_text_sql(a, k, arena_printf(a, "max(%s)", col)), qtable);
    PgResult *r = NULL;
    if (!query(c, sql, 0, NULL, &r, err))
        return false;
    if (!pg_isnull(r, 0, 0)) {
        f->data_min = arena_strdup(a, pg_get(r, 0, 0));
        f->data_max = arena_strdup(a, pg_get(r, 0, 1));
    }
    pg_result_free(r);
    return true;
}

bool preflight_gather(PgConn *c, const Policy *p, Arena *a, TableFacts *f, Err *err)
{
    memset(f, 0, sizeof *f);
    PgResult *r = NULL;
    bool ok = false;
    const char *qtable = quote_qualified_str(a, p->schema, p->table);

    const char *tp[] = {p->schema, p->table};
    if (!query(c,
               "SELECT c.oid::text, c.relkind::text, pg_get_userbyid(c.relowner), c.relreplident::text,"
               " c.reltuples::float8, c.relrowsecurity, c.relforcerowsecurity,"
               " (SELECT count(*) FROM pg_policy pol WHERE pol.polrelid = c.oid),"
               " coalesce(c.reloptions, '{}')::text,"
               " (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0"
               "  AND NOT a.attisdropped AND a.attacl IS NOT NULL),"
               " (SELECT r.rolsuper OR r.rolbypassrls OR (r.oid = c.relowner AND NOT c.relforcerowsecurity)"
               "  FROM pg_roles r WHERE r.rolname = current_user)"
               " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
               " WHERE n.nspname = $1 AND c.relname = $2",
               2, tp, &r, err))
        goto done;
    if (pg_nrows(r) == 0) {
        ok = true;
        goto done;
    }
    f->exists = true;
    f->oid = arena_strdup(a, pg_get(r, 0, 0));
    f->relkind = pg_get(r, 0, 1)[0];
    f->owner = arena_strdup(a, pg_get(r, 0, 2));
    f->replident = pg_get(r, 0, 3)[0];
    f->est_rows = atof(pg_get(r, 0, 4));
    f->rls = pg_get(r, 0, 5)[0] == 't';
    f->rls_forced = pg_get(r, 0, 6)[0] == 't';
    f->npolicies = (int)pg_get_int(r, 0, 7);
    if (!sql_parse_text_array(pg_get(r, 0, 8), a, &f->reloptions, &f->nreloptions))
        f->nreloptions = 0;
    f->ncolacl = (int)pg_get_int(r, 0, 9);
    f->rls_bypassed = pg_get(r, 0, 10)[0] == 't';
    pg_result_free(r);
    r = NULL;
    const char *op[] = {f->oid, p->column ? p->column : ""};

    /* columns */
    if (!query(c,
               "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attgenerated <> '',"
               " a.attidentity::text, (SELECT CASE WHEN t.typtype = 'd' THEN (SELECT b.typname FROM pg_type b"
               "  WHERE b.oid = t.typbasetype) ELSE t.typname END FROM pg_type t WHERE t.oid = a.atttypid)"
               " FROM pg_attribute a WHERE a.attrelid = $1::oid AND a.attnum > 0"
               " AND NOT a.attisdropped ORDER BY a.attnum",
               1, op, &r, err))
        goto done;
    f->cols = str_array(a, pg_nrows(r));
    f->ident_cols = str_array(a, pg_nrows(r));
    f->ident_kinds = arena_alloc(a, (size_t)pg_nrows(r) + 1);
    for (int i = 0; i < pg_nrows(r); i++) {
        char kind = pg_get(r, i, 4)[0];
        if (kind == 'a' || kind == 'd') {
            f->ident_cols[f->nident] = arena_strdup(a, pg_get(r, i, 0));
            f->ident_kinds[f->nident++] = kind;
        }
        if (!strcmp(pg_get(r, i, 0), op[1])) {
            f->part_type = arena_strdup(a, pg_get(r, i, 1));
            f->part_key = catalog_key_type(pg_get(r, i, 5), p->timezone);
            f->part_notnull = pg_get(r, i, 2)[0] == 't';
        }
        if (pg_get(r, i, 3)[0] != 't')
            f->cols[f->ncols++] = arena_strdup(a, pg_get(r, i, 0));
    }
    pg_result_free(r);
    r = NULL;

    /* primary key, in key order */
    if (!query(c,
               "SELECT a.attname, format_type(a.atttypid, a.atttypmod), ci.relname"
               " FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid"
               " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)"
               " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
               " WHERE i.indrelid = $1::oid AND i.indisprimary ORDER BY k.ord",
               1, op, &r, err))
        goto done;
    f->nkey = pg_nrows(r);
    f->key = str_array(a, f->nkey);
    f->key_types = str_array(a, f->nkey);
    for (int i = 0; i < f->nkey; i++) {
        f->key[i] = arena_strdup(a, pg_get(r, i, 0));
        f->key_types[i] = arena_strdup(a, pg_get(r, i, 1));
        f->pkey_index = arena_strdup(a, pg_get(r, i, 2));
        if (p->column && !strcmp(f->key[i], p->column))
            f->pk_has_partkey = true;
    }
    pg_result_free(r);
    r = NULL;
    /* no primary key: the keyset copy walks a unique btree index over NOT
     * NULL columns (one with the partition column first, then the
     * narrowest); the new table gets no primary key unless the policy names one */
    if (f->nkey == 0) {
        if (!query(c,
                   "SELECT ci.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM (SELECT i.indexrelid,"
                   "  i.indrelid, i.indkey FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                   "  JOIN pg_am am ON am.oid = c.relam"
                   "  WHERE i.indrelid = $1::oid AND i.indisunique AND i.indisvalid AND i.indimmediate"
                   "  AND i.indpred IS NULL AND i.indexprs IS NULL AND am.amname = 'btree'"
                   "  AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) k(attnum) JOIN pg_attribute a"
                   "   ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE NOT a.attnotnull)"
                   "  ORDER BY EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) k(attnum) JOIN pg_attribute a"
                   "   ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE a.attname = $2) DESC,"
                   "  i.indnkeyatts, c.relname LIMIT 1) i"
                   " JOIN pg_class ci ON ci.oid = i.indexrelid"
                   " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)"
                   " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord",
                   2, op, &r, err))
            goto done;
        f->nkey = pg_nrows(r);
        f->key = str_array(a, f->nkey);
        f->key_types = str_array(a, f->nkey);
        for (int i = 0; i < f->nkey; i++) {
            f->key[i] = arena_strdup(a, pg_get(r, i, 1));
            f->key_types[i] = arena_strdup(a, pg_get(r, i, 2));
            f->key_index = arena_strdup(a, pg_get(r, i, 0));
            if (p->column && !strcmp(f->key[i], p->column))
                f->pk_has_partkey = true;
        }
        pg_result_free(r);
        r = NULL;
    }
    if (p->primary_key.n > 0) {
        f->new_pk = p->primary_key.items;
        f->nnew_pk = p->primary_key.n;
    } else if (f->key_index) {
        f->new_pk = NULL;
        f->nnew_pk = 0;
    } else {
        f->new_pk = f->key;
        f->nnew_pk = f->nkey;
    }

    /* secondary indexes */
    if (!query(
            c,
            "SELECT ci.relname, substring(pg_get_indexdef(i.indexrelid) from ' USING .*$'), i.indisunique,"
            " am.amname || ':' || (i.indexprs IS NULL AND i.indpred IS NULL AND i.indnkeyatts = i.indnatts)::text"
            " || ':' || (SELECT string_agg(a.attname, ',' ORDER BY k.ord) FROM unnest(i.indkey::int2[])"
            "  WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)"
            " FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid JOIN pg_am am ON am.oid = ci.relam"
            " WHERE i.indrelid = $1::oid AND NOT i.indisprimary AND i.indisvalid ORDER BY ci.relname",
            1, op, &r, err))
        goto done;
    f->nix = pg_nrows(r);
    f->ix_names = str_array(a, f->nix);
    f->ix_using = str_array(a, f->nix);
    f->ix_unique = arena_alloc(a, sizeof(bool) * (size_t)(f->nix + 1));
    f->ix_policy = arena_alloc(a, sizeof(bool) * (size_t)(f->nix + 1));
    f->ix_policy_index = arena_alloc(a, sizeof(int) * (size_t)(f->nix + 1));
    for (int i = 0; i < f->nix; i++) {
        f->ix_policy_index[i] = -1;
        /* "btree:true:tenant_id": the same as an index the policy declares? */
        for (int j = 0; j < p->nindexes; j++) {
            const IndexSpec *ix = &p->indexes[j];
            Buf sig = {0};
            buf_printf(&sig, "%s:true:", ix->method ? ix->method : "btree");
            for (int k = 0; k < ix->columns.n; k++)
                buf_printf(&sig, "%s%s", k ? "," : "", ix->columns.items[k]);
            if (!strcmp(buf_str(&sig), pg_get(r, i, 3)) && ix->unique == (pg_get(r, i, 2)[0] == 't') &&
                (!f->ix_policy[i] || !strcmp(policy_index_name(ix, p, a), pg_get(r, i, 0)))) {
                f->ix_policy[i] = true;
                f->ix_policy_index[i] = j; /* the one of the same name, if two match */
            }
            buf_free(&sig);
        }
        f->ix_names[i] = arena_strdup(a, pg_get(r, i, 0));
        f->ix_using[i] = arena_strdup(a, pg_get(r, i, 1));
        f->ix_unique[i] = pg_get(r, i, 2)[0] == 't';
    }
    pg_result_free(r);
    r = NULL;

    /* sequences owned by a column (serial) */
    if (!query(c,
               "SELECT s.oid::regclass::text, a.attname FROM pg_depend d"
               " JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
               " JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
               " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
               " AND d.refobjid = $1::oid AND d.deptype = 'a' ORDER BY 1",
               1, op, &r, err))
        goto done;
    f->nseqs = pg_nrows(r);
    f->seqs = str_array(a, f->nseqs);
    f->seq_cols = str_array(a, f->nseqs);
    for (int i = 0; i < f->nseqs; i++) {
        f->seqs[i] = arena_strdup(a, pg_get(r, i, 0));
        f->seq_cols[i] = arena_strdup(a, pg_get(r, i, 1));
    }
    pg_result_free(r);
    r = NULL;

    /* dependent plain views (server-quoted qualified names) */
    if (!query(c,
               "SELECT DISTINCT v.oid::regclass::text FROM pg_depend d"
               " JOIN pg_rewrite rw ON rw.oid = d.objid JOIN pg_class v ON v.oid = rw.ev_class"
               " WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass"
               " AND d.refobjid = $1::oid AND v.oid <> $1::oid AND v.relkind = 'v' ORDER BY 1",
               1, op, &r, err))
        goto done;
    f->nviews = pg_nrows(r);
    f->views = str_array(a, f->nviews);
    for (int i = 0; i < f->nviews; i++)
        f->views[i] = arena_strdup(a, pg_get(r, i, 0));
    pg_result_free(r);
    r = NULL;

    /* foreign keys from the table (recreated on the new one) */
    if (!query(c,
               "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
               " WHERE conrelid = $1::oid AND contype = 'f' ORDER BY conname",
               1, op, &r, err))
        goto done;
    f->nfk = pg_nrows(r);
    f->fk_names = str_array(a, f->nfk);
    f->fk_defs = str_array(a, f->nfk);
    for (int i = 0; i < f->nfk; i++) {
        f->fk_names[i] = arena_strdup(a, pg_get(r, i, 0));
        f->fk_defs[i] = arena_strdup(a, pg_get(r, i, 1));
    }
    pg_result_free(r);
    r = NULL;

    const char *zp[] = {p->timezone ? p->timezone : "UTC"};
    if (!query(c, "SELECT to_char(now() AT TIME ZONE $1, 'YYYY-MM-DD HH24')", 1, zp, &r, err))
        goto done;
    f->now_wall = arena_strdup(a, pg_get(r, 0, 0));
    pg_result_free(r);
    r = NULL;

    if (f->relkind == 'r' && f->part_type && !gather_key_range(c, p, qtable, f, a, err))
        goto done;
    ok = true;
done:
    pg_result_free(r);
    return ok;
}

/* ---- layout ---- */

bool preflight_layout(const Policy *p, const TableFacts *f, Arena *a, PartitionSpec **specs, int *n, const char **from,
                      const char **to, Err *err)
{
    *specs = NULL;
    *n = 0;
    *from = *to = NULL;
    if (p->by != PART_RANGE) {
        partitions_fixed(p, a, specs, n);
        return true;
    }
    PartitionSpec *fixed = NULL;
    int nfixed = 0;
    partitions_fixed(p, a, &fixed, &nfixed); /* the DEFAULT partition, if any */
    if (p->interval.unit == UNIT_INTEGER) {
        int64_t step = p->interval.count, lo, hi;
        int64_t anchor = p->start ? strtoll(p->start, NULL, 10) : 0;
        lo = p->start ? anchor : (f->data_min ? strtoll(f->data_min, NULL, 10) : 0);
        hi = f->data_max ? strtoll(f->data_max, NULL, 10) : lo;
        if (hi < lo)
            hi = lo;
        /* the partition holding max, plus premake partitions above it */
        if (!interval_int_upper_checked(step, anchor, hi, 1 + (p->premake > 0 ? p->premake : 0), &hi)) {
            err_set(err, PM_EINPUT,
                    "\"%s\": partitions for the key's largest value %s plus premake %d would end past "
                    "9223372036854775807, the largest bigint",
                    p->table, f->data_max ? f->data_max : "-", p->premake);
            return err_hint(err, "lower premake, or keep the key's values further from the bigint limit");
        }
        *from = arena_printf(a, "%lld", (long long)lo);
        *to = arena_printf(a, "%lld", (long long)hi);
    } else {
        WallTime anchor = {1970, 1, 1, 0}, lo, hi, now;
        if (p->start)
            walltime_parse(p->start, &anchor);
        if (!walltime_parse(f->now_wall ? f->now_wall : "1970-01-01", &now))
            return err_set(err, PM_EDB, "cannot read the server clock");
        if (p->start)
            lo = anchor;
        else if (f->data_min && walltime_parse(f->data_min, &lo))
            ;
        else
            lo = interval_floor(p->interval, anchor, now);
        hi = now;
        WallTime mx;
        if (f->data_max && walltime_parse(f->data_max, &mx) && walltime_cmp(mx, hi) > 0)
            hi = mx;
        if (walltime_cmp(hi, lo) < 0)
            hi = lo;
        hi = interval_add(p->interval, interval_floor(p->interval, anchor, hi), 1 + (p->premake > 0 ? p->premake : 0));
        Buf b = {0};
        walltime_format(&b, lo);
        *from = arena_strdup(a, buf_str(&b));
        buf_reset(&b);
        walltime_format(&b, hi);
        *to = arena_strdup(a, buf_str(&b));
        buf_free(&b);
    }
    PartitionSpec *range = NULL;
    int nrange = 0;
    if (!partitions_range(p, *from, *to, a, &range, &nrange, err))
        return false;
    *specs = arena_alloc(a, sizeof **specs * (size_t)(nrange + nfixed + 1));
    memcpy(*specs, range, sizeof *range * (size_t)nrange);
    if (nfixed)
        memcpy(*specs + nrange, fixed, sizeof *fixed * (size_t)nfixed);
    *n = nrange + nfixed;
    return true;
}
