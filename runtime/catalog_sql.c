/* catalog_sql.c: statement text the runtime builds itself (CREATE, ATTACH
 * and DROP INDEX, DROP TABLE) and the SQL that depends on the partition
 * key's type; text only, no connection. */
#include <string.h>

#include "../common/buf.h"
#include "../common/quote.h"
#include "catalog.h"

void catalog_sql_create_index(Buf *b, bool unique, bool concurrently, const char *index, bool only, const char *schema,
                              const char *table, const char *using)
{
    buf_printf(b, "CREATE %sINDEX %sIF NOT EXISTS ", unique ? "UNIQUE " : "", concurrently ? "CONCURRENTLY " : "");
    quote_ident(b, index);
    buf_append(b, only ? " ON ONLY " : " ON ");
    quote_qualified(b, schema, table);
    buf_printf(b, " USING %s", using);
}

void catalog_sql_attach_index(Buf *b, const char *parent_schema, const char *parent_index, const char *schema,
                              const char *index)
{
    buf_append(b, "ALTER INDEX ");
    quote_qualified(b, parent_schema, parent_index);
    buf_append(b, " ATTACH PARTITION ");
    quote_qualified(b, schema, index);
}

void catalog_sql_drop_index(Buf *b, bool concurrently, const char *schema, const char *index)
{
    buf_printf(b, "DROP INDEX %sIF EXISTS ", concurrently ? "CONCURRENTLY " : "");
    quote_qualified(b, schema, index);
}

void catalog_sql_drop_table(Buf *b, const char *schema, const char *table)
{
    buf_append(b, "DROP TABLE IF EXISTS ");
    quote_qualified(b, schema, table);
}

/* ---- SQL that depends on the partition key's type ---- */

KeyType catalog_key_type(const char *typname, const char *zone)
{
    KeyType k = {KEY_UNSUPPORTED, zone ? zone : "UTC"};
    if (!typname)
        return k;
    if (!strcmp(typname, "timestamptz"))
        k.kind = KEY_TIMESTAMPTZ;
    else if (!strcmp(typname, "timestamp"))
        k.kind = KEY_TIMESTAMP;
    else if (!strcmp(typname, "date"))
        k.kind = KEY_DATE;
    else if (!strcmp(typname, "int2") || !strcmp(typname, "int4") || !strcmp(typname, "int8"))
        k.kind = KEY_INTEGER;
    else if (!strcmp(typname, "text") || !strcmp(typname, "varchar") || !strcmp(typname, "bpchar"))
        k.kind = KEY_TEXT;
    else
        k.kind = KEY_OTHER;
    return k;
}

bool catalog_key_is_time(const KeyType *k)
{
    return k->kind == KEY_TIMESTAMPTZ || k->kind == KEY_TIMESTAMP || k->kind == KEY_DATE;
}

static const char *zone_literal(Arena *a, const KeyType *k)
{
    Buf b = {0};
    quote_literal(&b, k->zone);
    return buf_to_arena(&b, a);
}

const char *catalog_key_wall_sql(Arena *a, const KeyType *k, const char *expr)
{
    switch (k->kind) {
    case KEY_TIMESTAMPTZ: return arena_printf(a, "((%s) AT TIME ZONE %s)", expr, zone_literal(a, k));
    case KEY_TIMESTAMP: return arena_printf(a, "(%s)", expr);
    case KEY_DATE: return arena_printf(a, "(%s)::pg_catalog.timestamp", expr);
    default: return arena_printf(a, "(%s)", expr);
    }
}

const char *catalog_key_text_sql(Arena *a, const KeyType *k, const char *expr)
{
    if (catalog_key_is_time(k))
        return arena_printf(a, "pg_catalog.to_char(%s, 'YYYY-MM-DD HH24:00:00')", catalog_key_wall_sql(a, k, expr));
    return arena_printf(a, "(%s)::pg_catalog.text", expr);
}

const char *catalog_key_from_text_sql(Arena *a, const KeyType *k, const char *text)
{
    switch (k->kind) {
    case KEY_TIMESTAMPTZ:
        return arena_printf(a, "((%s)::pg_catalog.timestamp AT TIME ZONE %s)", text, zone_literal(a, k));
    case KEY_TIMESTAMP:
    case KEY_DATE: /* a date compares with a timestamp (and prunes by it) */
        return arena_printf(a, "(%s)::pg_catalog.timestamp", text);
    case KEY_INTEGER: return arena_printf(a, "(%s)::pg_catalog.int8", text);
    default: return arena_printf(a, "(%s)::pg_catalog.text", text);
    }
}

const char *catalog_key_in_range_sql(Arena *a, const KeyType *k, const char *expr, const char *lo, const char *hi)
{
    return arena_printf(a, "(%s >= %s AND %s < %s)", expr, catalog_key_from_text_sql(a, k, lo), expr,
                        catalog_key_from_text_sql(a, k, hi));
}

void catalog_sql_detach(Buf *b, const char *pschema, const char *parent, const char *schema, const char *part,
                        const char *mode)
{
    buf_append(b, "ALTER TABLE ");
    quote_qualified(b, pschema, parent);
    buf_append(b, " DETACH PARTITION ");
    quote_qualified(b, schema, part);
    if (*mode)
        buf_printf(b, " %s", mode);
}

void catalog_sql_set_schema(Buf *b, const char *schema, const char *table, const char *target)
{
    buf_append(b, "ALTER TABLE ");
    quote_qualified(b, schema, table);
    buf_append(b, " SET SCHEMA ");
    quote_ident(b, target);
}

void catalog_sql_set_tablespace(Buf *b, const char *schema, const char *table, const char *tablespace)
{
    buf_append(b, "ALTER TABLE ");
    quote_qualified(b, schema, table);
    buf_append(b, " SET TABLESPACE ");
    quote_ident(b, tablespace);
}
