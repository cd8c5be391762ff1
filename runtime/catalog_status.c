/* catalog_status.c: catalog questions about many tables at once --
 * status's managed tables and their partitions in one query each, and the
 * exact row counts of many relations. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"
#include "../common/quote.h"
#include "catalog.h"

/* [{"i":0,"s":"public","t":"events","z":"UTC"}, ...] for T[0..N-1]. */
static char *tables_param(const CatalogTable *t, int n)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:i, s:s, s:s, s:s}", "i", i, "s", t[i].schema, "t", t[i].table, "z",
                                             t[i].zone && *t[i].zone ? t[i].zone : "UTC"));
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

bool catalog_tables_status(PgConn *c, CatalogTable *t, int n, Arena *arena, Err *err)
{
    for (int i = 0; i < n; i++) {
        memset(&t[i].info, 0, sizeof t[i].info);
        t[i].info.key = t[i].info.key_type = "";
        t[i].now_wall = "";
        t[i].now_epoch = 0;
    }
    if (n == 0)
        return true;
    char *param = tables_param(t, n);
    if (!param)
        return err_set(err, PM_EDB, "out of memory");
    const char *p[1] = {param};
    PgResult *r = NULL;
    bool ok =
        pg_exec(c,
                "SELECT x.i, c.relkind IS NOT NULL, coalesce(c.relkind::text, ''), coalesce(pt.partstrat::text, ''), "
                "coalesce(regexp_replace(pg_catalog.pg_get_partkeydef(c.oid), '^[A-Z]+ \\((.*)\\)$', '\\1'), ''), "
                "coalesce((SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
                "WHERE a.attrelid = c.oid AND a.attnum = pt.partattrs[0]), ''), coalesce(c.relispartition, false), "
                "to_char(now() AT TIME ZONE x.z, 'YYYY-MM-DD HH24:MI:SS'), extract(epoch FROM now()) "
                "FROM jsonb_to_recordset($1::jsonb) AS x(i int, s text, t text, z text) "
                "LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = x.s "
                "LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = x.t "
                "LEFT JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = c.oid ORDER BY x.i",
                1, p, &r, err);
    free(param);
    if (!ok)
        return false;
    for (int k = 0; k < pg_nrows(r); k++) {
        int i = (int)pg_get_int(r, k, 0);
        if (i < 0 || i >= n)
            continue;
        TableInfo *ti = &t[i].info;
        ti->exists = !strcmp(pg_get(r, k, 1), "t");
        ti->relkind = pg_get(r, k, 2)[0];
        ti->strategy = pg_get(r, k, 3)[0];
        ti->key = arena_strdup(arena, pg_get(r, k, 4));
        ti->key_type = arena_strdup(arena, pg_get(r, k, 5));
        ti->is_partition = !strcmp(pg_get(r, k, 6), "t");
        t[i].now_wall = arena_strdup(arena, pg_get(r, k, 7));
        t[i].now_epoch = strtod(pg_get(r, k, 8), NULL);
    }
    pg_result_free(r);
    return true;
}

/* Every partition of the tables in $1 (tables_param), its bounds split as
 * partitions_sql splits them, and for time keys the bounds as wall clock in
 * the table's zone and as unix seconds.  One cast per key type, each in its
 * own CASE branch: only the branch of the row's type is evaluated. */
static const char *const partitions_status_sql =
    "WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(i int, s text, t text, z text)), "
    "k AS (SELECT x.i, x.z, c.oid, coalesce((SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) "
    " FROM pg_catalog.pg_partitioned_table pt JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.partrelid "
    " AND a.attnum = pt.partattrs[0] WHERE pt.partrelid = c.oid AND pt.partnatts = 1), '') AS typ "
    " FROM x JOIN pg_catalog.pg_namespace n ON n.nspname = x.s "
    " JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = x.t AND c.relkind = 'p'), "
    "p AS (SELECT k.i, k.z, k.typ, n.nspname, c.relname, pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound, "
    " c.relkind, c.reltuples, pg_catalog.pg_total_relation_size(c.oid) AS bytes, "
    " pg_catalog.pg_relation_size(c.oid) AS heap, coalesce(ts.spcname, 'pg_default') AS ts "
    " FROM k JOIN pg_catalog.pg_inherits i ON i.inhparent = k.oid JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid "
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    " LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace), "
    "q AS (SELECT *, CASE WHEN bound LIKE 'FOR VALUES FROM (%' THEN "
    " btrim(split_part(substr(bound, 18), ') TO (', 1), '''') ELSE '' END AS lo, "
    " CASE WHEN bound LIKE 'FOR VALUES FROM (%' THEN "
    " btrim(rtrim(split_part(bound, ') TO (', 2), ')'), '''') ELSE '' END AS hi FROM p), "
    "w AS (SELECT q.*, "
    " CASE WHEN lo IN ('', 'MINVALUE', 'MAXVALUE') OR lo LIKE '%,%' THEN NULL "
    "  WHEN typ = 'timestamp with time zone' THEN lo::timestamptz "
    "  WHEN typ = 'timestamp without time zone' THEN lo::timestamp AT TIME ZONE z "
    "  WHEN typ = 'date' THEN lo::date::timestamp AT TIME ZONE z END AS lo_t, "
    " CASE WHEN hi IN ('', 'MINVALUE', 'MAXVALUE') OR hi LIKE '%,%' THEN NULL "
    "  WHEN typ = 'timestamp with time zone' THEN hi::timestamptz "
    "  WHEN typ = 'timestamp without time zone' THEN hi::timestamp AT TIME ZONE z "
    "  WHEN typ = 'date' THEN hi::date::timestamp AT TIME ZONE z END AS hi_t FROM q) "
    "SELECT i, nspname, relname, bound, bound = 'DEFAULT', lo, hi, relkind, reltuples, bytes, heap, ts, "
    " coalesce(to_char(lo_t AT TIME ZONE z, 'YYYY-MM-DD HH24:MI:SS'), ''), "
    " coalesce(to_char(hi_t AT TIME ZONE z, 'YYYY-MM-DD HH24:MI:SS'), ''), "
    " extract(epoch FROM lo_t), extract(epoch FROM hi_t) FROM w "
    "ORDER BY i, bound = 'DEFAULT', lo LIKE '-%' DESC, length(lo), lo, relname";

bool catalog_partitions_status(PgConn *c, const CatalogTable *t, int n, Arena *arena, PartStatus **out, int *nout,
                               Err *err)
{
    *out = NULL;
    *nout = 0;
    if (n == 0)
        return true;
    char *param = tables_param(t, n);
    if (!param)
        return err_set(err, PM_EDB, "out of memory");
    const char *p[1] = {param};
    PgResult *r = NULL;
    bool ok = pg_exec(c, partitions_status_sql, 1, p, &r, err);
    free(param);
    if (!ok)
        return false;
    int rows = pg_nrows(r);
    PartStatus *v = arena_alloc(arena, sizeof *v * (size_t)(rows + 1));
    for (int k = 0; k < rows; k++) {
        PartStatus *s = &v[k];
        memset(s, 0, sizeof *s);
        s->table = (int)pg_get_int(r, k, 0);
        s->part.schema = arena_strdup(arena, pg_get(r, k, 1));
        s->part.name = arena_strdup(arena, pg_get(r, k, 2));
        s->part.bound = arena_strdup(arena, pg_get(r, k, 3));
        s->part.is_default = !strcmp(pg_get(r, k, 4), "t");
        s->part.from = arena_strdup(arena, pg_get(r, k, 5));
        s->part.to = arena_strdup(arena, pg_get(r, k, 6));
        s->part.relkind = pg_get(r, k, 7)[0];
        s->part.reltuples = strtod(pg_get(r, k, 8), NULL);
        s->part.bytes = pg_get_int(r, k, 9);
        s->heap_bytes = pg_get_int(r, k, 10);
        s->part.tablespace = arena_strdup(arena, pg_get(r, k, 11));
        s->from_wall = arena_strdup(arena, pg_get(r, k, 12));
        s->to_wall = arena_strdup(arena, pg_get(r, k, 13));
        s->has_from_epoch = !pg_isnull(r, k, 14);
        s->has_to_epoch = !pg_isnull(r, k, 15);
        s->from_epoch = s->has_from_epoch ? strtod(pg_get(r, k, 14), NULL) : 0;
        s->to_epoch = s->has_to_epoch ? strtod(pg_get(r, k, 15), NULL) : 0;
    }
    pg_result_free(r);
    *out = v;
    *nout = rows;
    return true;
}

/* Tables counted per query by catalog_count_many. */
#define COUNT_CHUNK 200

bool catalog_count_many(PgConn *c, const char *const *schemas, const char *const *names, int n, int64_t *counts,
                        Err *err)
{
    for (int from = 0; from < n; from += COUNT_CHUNK) {
        int to = from + COUNT_CHUNK < n ? from + COUNT_CHUNK : n;
        Buf q = {0};
        for (int i = from; i < to; i++) {
            if (i > from)
                buf_append(&q, " UNION ALL ");
            buf_printf(&q, "SELECT %d, count(*) FROM ", i);
            quote_qualified(&q, schemas[i], names[i]);
        }
        PgResult *r = NULL;
        bool ok = pg_exec(c, buf_str(&q), 0, NULL, &r, err);
        buf_free(&q);
        if (!ok)
            return false;
        for (int k = 0; k < pg_nrows(r); k++) {
            int64_t i = pg_get_int(r, k, 0);
            if (i >= from && i < to)
                counts[i] = pg_get_int(r, k, 1);
        }
        pg_result_free(r);
    }
    return true;
}
