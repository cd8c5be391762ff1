/* catalog_init.c: the catalog reads of partmig init -- the table, its
 * columns, keys and indexes, and one column's statistics (init.h). */
#include "../common/buf.h"
#include "../common/quote.h"
#include "catalog.h"
#include "init.h"

bool catalog_init_relation(PgConn *c, const char *schema, const char *table, PgResult **res, Err *err)
{
    const char *p[] = {schema, table};
    return pg_exec(c,
                   "SELECT c.oid, c.relkind::text FROM pg_catalog.pg_class c"
                   " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                   " WHERE n.nspname = $1 AND c.relname = $2",
                   2, p, res, err);
}

bool catalog_init_columns(PgConn *c, const char *oid, PgResult **res, Err *err)
{
    const char *p[] = {oid};
    return pg_exec(c,
                   "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,"
                   " CASE WHEN a.atttypid IN ('timestamptz'::pg_catalog.regtype, 'timestamp'::pg_catalog.regtype,"
                   "  'date'::pg_catalog.regtype) THEN 'time'"
                   "  WHEN a.atttypid IN ('int2'::pg_catalog.regtype, 'int4'::pg_catalog.regtype,"
                   "  'int8'::pg_catalog.regtype) THEN 'integer' ELSE '' END,"
                   " (SELECT ci.relname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ci ON ci.oid = i.indexrelid"
                   "  WHERE i.indrelid = a.attrelid AND i.indisvalid AND i.indkey[0] = a.attnum"
                   "  ORDER BY i.indisprimary DESC, ci.relname LIMIT 1),"
                   " EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary"
                   "  AND a.attnum = ANY (i.indkey::pg_catalog.int2[]))"
                   " FROM pg_catalog.pg_attribute a"
                   " WHERE a.attrelid = $1::pg_catalog.oid AND a.attnum > 0 AND NOT a.attisdropped"
                   " ORDER BY a.attnum",
                   1, p, res, err);
}

bool catalog_init_primary_key(PgConn *c, const char *oid, PgResult **res, Err *err)
{
    const char *p[] = {oid};
    return pg_exec(c,
                   "SELECT a.attname FROM pg_catalog.pg_index i,"
                   " unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY k(attnum, ord)"
                   " JOIN pg_catalog.pg_attribute a ON a.attnum = k.attnum"
                   " WHERE i.indrelid = $1::pg_catalog.oid AND i.indisprimary AND a.attrelid = i.indrelid"
                   " ORDER BY k.ord",
                   1, p, res, err);
}

bool catalog_init_indexes(PgConn *c, const char *oid, PgResult **res, Err *err)
{
    const char *p[] = {oid};
    return pg_exec(c,
                   "SELECT ci.relname, i.indisunique, am.amname,"
                   " (i.indexprs IS NULL AND i.indpred IS NULL AND i.indnkeyatts = i.indnatts),"
                   " (SELECT pg_catalog.string_agg(a.attname, ',' ORDER BY k.ord)"
                   "  FROM unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY k(attnum, ord)"
                   "  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)"
                   " FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ci ON ci.oid = i.indexrelid"
                   " JOIN pg_catalog.pg_am am ON am.oid = ci.relam"
                   " WHERE i.indrelid = $1::pg_catalog.oid AND NOT i.indisprimary AND i.indisvalid"
                   " ORDER BY ci.relname",
                   1, p, res, err);
}

bool catalog_init_column_stats(PgConn *c, const char *schema, const char *table, const char *column, bool is_time,
                               PgResult **res, Err *err)
{
    /* names are quoted here (they cannot travel as parameters); no value is spliced */
    Buf q = {0}, col = {0};
    quote_ident(&col, column);
    const char *k = buf_str(&col);
    buf_append(&q, "SELECT count(*), count(*) - count(");
    buf_append(&q, k);
    buf_append(&q, "), min(");
    buf_append(&q, k);
    buf_append(&q, ")::text, max(");
    buf_append(&q, k);
    buf_append(&q, ")::text, ");
    if (is_time)
        buf_printf(&q, "pg_catalog.date_part('epoch', max(%s)::timestamp - min(%s)::timestamp) / 86400.0", k, k);
    else
        buf_printf(&q, "(max(%s)::numeric - min(%s)::numeric + 1)", k, k);
    buf_append(&q, " FROM ");
    quote_qualified(&q, schema, table);
    bool ok = pg_exec(c, buf_str(&q), 0, NULL, res, err);
    buf_free(&q);
    buf_free(&col);
    return ok;
}
