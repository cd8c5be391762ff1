/* maintain_sql.c: the queries and statement text of partmig maintain. */
#include "maintain_sql.h"

#include <string.h>

#include "../common/buf.h"

#include "../common/quote.h"
#include "ledger.h"

/* One text column from SQL into ARENA strings. */
static bool query_list(PgConn *c, const char *sql, int nparams, const char *const *params, Arena *arena,
                       const char ***out, int *n, Err *err)
{
    PgResult *r = NULL;
    if (!pg_exec(c, sql, nparams, params, &r, err))
        return false;
    *n = pg_nrows(r);
    *out = arena_alloc(arena, sizeof **out * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++)
        (*out)[i] = arena_strdup(arena, pg_get(r, i, 0));
    pg_result_free(r);
    return true;
}

#define REGCLASS(a, b) "pg_catalog.to_regclass(pg_catalog.format('%I.%I', " a "::text, " b "::text))"

bool msql_in_recovery(PgConn *c, bool *standby, Err *err)
{
    return pg_query_bool(c, "SELECT pg_catalog.pg_is_in_recovery()", 0, NULL, standby, err);
}

bool msql_fk_reference(PgConn *c, const char *schema, const char *part, const char *pschema, const char *parent,
                       Arena *arena, const char **what, Err *err)
{
    const char *p[4] = {schema, part, pschema, parent};
    PgResult *r = NULL;
    if (!pg_exec(c,
                 "SELECT pg_catalog.format('\"%s\" on %s', k.conname, k.conrelid::regclass::text) "
                 "FROM pg_catalog.pg_constraint k WHERE k.contype = 'f' AND k.confrelid IN (" REGCLASS(
                     "$1", "$2") ", " REGCLASS("$3", "$4") ") ORDER BY k.conparentid <> 0, k.conname LIMIT 1",
                 4, p, &r, err))
        return false;
    *what = arena_strdup(arena, pg_nrows(r) ? pg_get(r, 0, 0) : "");
    pg_result_free(r);
    return true;
}

bool msql_detach_pending(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***names, int *n,
                         Err *err)
{
    const char *p[2] = {schema, table};
    return query_list(c,
                      "SELECT c.relname FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid "
                      "WHERE i.inhparent = " REGCLASS("$1", "$2") " AND i.inhdetachpending ORDER BY 1",
                      2, p, arena, names, n, err);
}

bool msql_indexes(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***names,
                  const char ***constraints, int *n, Err *err)
{
    const char *p[2] = {schema, table};
    PgResult *r = NULL;
    if (!pg_exec(c,
                 "SELECT ci.relname, coalesce((SELECT k.conname FROM pg_catalog.pg_constraint k "
                 "WHERE k.conindid = ci.oid AND k.conrelid = x.indrelid AND k.contype IN ('p', 'u', 'x')), '') "
                 "FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class ci ON ci.oid = x.indexrelid "
                 "WHERE x.indrelid = " REGCLASS("$1", "$2") " ORDER BY 1",
                 2, p, &r, err))
        return false;
    *n = pg_nrows(r);
    *names = arena_alloc(arena, sizeof **names * (size_t)(*n + 1));
    *constraints = arena_alloc(arena, sizeof **constraints * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) {
        (*names)[i] = arena_strdup(arena, pg_get(r, i, 0));
        (*constraints)[i] = arena_strdup(arena, pg_get(r, i, 1));
    }
    pg_result_free(r);
    return true;
}

bool msql_leaves(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***schemas,
                 const char ***names, int *n, Err *err)
{
    const char *p[2] = {schema, table};
    PgResult *r = NULL;
    if (!pg_exec(
            c,
            "SELECT n.nspname, c.relname FROM pg_catalog.pg_partition_tree(" REGCLASS(
                "$1", "$2") ") t "
                            "JOIN pg_catalog.pg_class c ON c.oid = t.relid JOIN pg_catalog.pg_namespace n ON n.oid = "
                            "c.relnamespace WHERE t.isleaf ORDER BY 2",
            2, p, &r, err))
        return false;
    *n = pg_nrows(r);
    *schemas = arena_alloc(arena, sizeof **schemas * (size_t)(*n + 1));
    *names = arena_alloc(arena, sizeof **names * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) {
        (*schemas)[i] = arena_strdup(arena, pg_get(r, i, 0));
        (*names)[i] = arena_strdup(arena, pg_get(r, i, 1));
    }
    pg_result_free(r);
    return true;
}

bool msql_tablespace_of(PgConn *c, const char *schema, const char *name, Arena *arena, const char **tablespace,
                        Err *err)
{
    const char *p[2] = {schema, name};
    PgResult *r = NULL;
    if (!pg_exec(
            c,
            "SELECT coalesce(ts.spcname, 'pg_default') FROM pg_catalog.pg_class c "
            "LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace WHERE c.oid = " REGCLASS("$1", "$2"),
            2, p, &r, err))
        return false;
    *tablespace = arena_strdup(arena, pg_nrows(r) ? pg_get(r, 0, 0) : "");
    pg_result_free(r);
    return true;
}

bool msql_tablespace_exists(PgConn *c, const char *name, bool *exists, Err *err)
{
    const char *p[1] = {name};
    return pg_query_bool(c, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tablespace WHERE spcname = $1)", 1, p, exists,
                         err);
}

bool msql_relation_state(PgConn *c, const char *schema, const char *name, bool *exists, bool *partition, Err *err)
{
    const char *p[2] = {schema, name};
    PgResult *r = NULL;
    if (!pg_exec(c, "SELECT c.relispartition FROM pg_catalog.pg_class c WHERE c.oid = " REGCLASS("$1", "$2"), 2, p, &r,
                 err))
        return false;
    *exists = pg_nrows(r) == 1;
    *partition = *exists && !strcmp(pg_get(r, 0, 0), "t");
    pg_result_free(r);
    return true;
}

bool msql_column_list(PgConn *c, const char *schema, const char *table, Arena *arena, const char **list, Err *err)
{
    const char *p[2] = {schema, table};
    const char **names;
    int n;
    if (!query_list(c,
                    "SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = " REGCLASS(
                        "$1", "$2") " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                    2, p, arena, &names, &n, err))
        return false;
    Buf b = {0};
    for (int i = 0; i < n; i++) {
        if (i)
            buf_append(&b, ", ");
        quote_ident(&b, names[i]);
    }
    *list = arena_strdup(arena, buf_str(&b));
    buf_free(&b);
    return true;
}

bool msql_conversion_open(PgConn *c, const char *schema, const char *table, Arena *arena, bool *open, const char **kept,
                          Err *err)
{
    bool exists;
    *open = false;
    *kept = "";
    if (!pg_query_bool(c, "SELECT pg_catalog.to_regclass('partmig.conversions') IS NOT NULL", 0, NULL, &exists, err))
        return false;
    if (!exists)
        return true;
    const char *p[2] = {schema, table};
    PgResult *r = NULL;
    if (!pg_exec(c,
                 "SELECT coalesce(kept_name, '') FROM partmig.conversions WHERE table_schema = $1 AND table_name = $2 "
                 "AND state NOT IN ('finalized', 'rolled_back')",
                 2, p, &r, err))
        return false;
    if (pg_nrows(r) > 0) {
        *open = true;
        *kept = arena_strdup(arena, pg_get(r, 0, 0));
    }
    pg_result_free(r);
    return true;
}

/* ---- pg_partman ---- */

bool msql_children(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***oids,
                   const char ***schemas, const char ***names, int64_t **rows, bool **estimated, int *n, Err *err)
{
    const char *p[3] = {schema, table, "8388608"};
    PgResult *r = NULL;
    /* partitions up to 8 MB ($3) are counted exactly below, bigger ones estimated */
    if (!pg_exec(c,
                 "SELECT k.oid::text, n.nspname, k.relname, pg_catalog.pg_total_relation_size(k.oid) <= $3::bigint,"
                 " greatest(k.reltuples, 0)::bigint"
                 " FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class k ON k.oid = i.inhrelid"
                 " JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace"
                 " WHERE i.inhparent = " REGCLASS("$1", "$2") " ORDER BY k.relname",
                 3, p, &r, err))
        return false;
    *n = pg_nrows(r);
    *oids = arena_alloc(arena, sizeof **oids * (size_t)(*n + 1));
    *schemas = arena_alloc(arena, sizeof **schemas * (size_t)(*n + 1));
    *names = arena_alloc(arena, sizeof **names * (size_t)(*n + 1));
    *rows = arena_alloc(arena, sizeof **rows * (size_t)(*n + 1));
    *estimated = arena_alloc(arena, sizeof **estimated * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) {
        (*oids)[i] = arena_strdup(arena, pg_get(r, i, 0));
        (*schemas)[i] = arena_strdup(arena, pg_get(r, i, 1));
        (*names)[i] = arena_strdup(arena, pg_get(r, i, 2));
        (*estimated)[i] = pg_get(r, i, 3)[0] != 't';
        (*rows)[i] = pg_get_int(r, i, 4);
    }
    pg_result_free(r);
    for (int i = 0; i < *n; i++) {
        if ((*estimated)[i])
            continue;
        Buf q = {0};
        buf_append(&q, "SELECT count(*) FROM ");
        quote_qualified(&q, (*schemas)[i], (*names)[i]);
        bool ok = pg_exec(c, buf_str(&q), 0, NULL, &r, err);
        buf_free(&q);
        if (!ok)
            return false;
        (*rows)[i] = pg_get_int(r, 0, 0);
        pg_result_free(r);
    }
    return true;
}

bool msql_relation_name(PgConn *c, const char *oid, Arena *arena, const char **qname, Err *err)
{
    const char *p[1] = {oid};
    return pg_query_text(c,
                         "SELECT n.nspname || '.' || k.relname FROM pg_catalog.pg_class k"
                         " JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace WHERE k.oid = $1::oid",
                         1, p, arena, qname, err);
}

bool msql_partman_run(PgConn *c, const char *parent, bool retention, Err *err)
{
    const char *p[2] = {parent, NULL};
    if (retention)
        return pg_exec(c, "SELECT partman.run_maintenance($1)", 1, p, NULL, err);
    PgResult *r = NULL;
    if (!pg_exec(c, "SELECT retention FROM partman.part_config WHERE parent_table = $1 FOR UPDATE", 1, p, &r, err))
        return false;
    p[1] = pg_nrows(r) > 0 && !pg_isnull(r, 0, 0) ? pg_get(r, 0, 0) : NULL;
    bool ok = pg_exec(c, "UPDATE partman.part_config SET retention = NULL WHERE parent_table = $1", 1, p, NULL, err) &&
              pg_exec(c, "SELECT partman.run_maintenance($1)", 1, p, NULL, err) &&
              pg_exec(c, "UPDATE partman.part_config SET retention = $2 WHERE parent_table = $1", 2, p, NULL, err);
    pg_result_free(r);
    return ok;
}

/* ---- the retention record ---- */

bool msql_pending_ensure(PgConn *c, Err *err)
{
    /* the table is part of sql/ledger.sql; a ledger made before it had the
     * table gets it with the upgrade */
    bool exists = false;
    if (!msql_pending_exists(c, &exists, err))
        return false;
    return exists || ledger_ensure(c, NULL, err);
}

bool msql_pending_exists(PgConn *c, bool *exists, Err *err)
{
    return pg_query_bool(c, "SELECT pg_catalog.to_regclass('partmig.retention_log') IS NOT NULL", 0, NULL, exists, err);
}

bool msql_pending_add(PgConn *c, const char *parent, const char *schema, const char *name, const char *bound, Err *err)
{
    const char *p[4] = {schema, name, parent, bound};
    return pg_exec(c,
                   "INSERT INTO partmig.retention_log (schema_name, table_name, parent, bound) "
                   "VALUES ($1, $2, $3, $4) ON CONFLICT (schema_name, table_name) DO UPDATE "
                   "SET parent = $3, bound = $4, recorded_at = now(), finished_at = NULL",
                   4, p, NULL, err);
}

bool msql_pending_forget(PgConn *c, const char *schema, const char *name, Err *err)
{
    const char *p[2] = {schema, name};
    /* kept as the record that retention removed it (verify reads it) */
    return pg_exec(c, "UPDATE partmig.retention_log SET finished_at = now() WHERE schema_name = $1 AND table_name = $2",
                   2, p, NULL, err);
}

bool msql_pending_list(PgConn *c, const char *parent, Arena *arena, const char ***schemas, const char ***names,
                       const char ***bounds, int *n, Err *err)
{
    const char *p[1] = {parent};
    PgResult *r = NULL;
    if (!pg_exec(c,
                 "SELECT schema_name, table_name, bound FROM partmig.retention_log WHERE parent = $1 "
                 "AND finished_at IS NULL ORDER BY recorded_at, table_name",
                 1, p, &r, err))
        return false;
    *n = pg_nrows(r);
    *schemas = arena_alloc(arena, sizeof **schemas * (size_t)(*n + 1));
    *names = arena_alloc(arena, sizeof **names * (size_t)(*n + 1));
    *bounds = arena_alloc(arena, sizeof **bounds * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) {
        (*schemas)[i] = arena_strdup(arena, pg_get(r, i, 0));
        (*names)[i] = arena_strdup(arena, pg_get(r, i, 1));
        (*bounds)[i] = arena_strdup(arena, pg_get(r, i, 2));
    }
    pg_result_free(r);
    return true;
}

/* ---- statement text ---- */

void msql_detach(Buf *b, const char *pschema, const char *parent, const char *schema, const char *part,
                 const char *mode)
{
    buf_append(b, "ALTER TABLE ");
    quote_qualified(b, pschema, parent);
    buf_append(b, " DETACH PARTITION ");
    quote_qualified(b, schema, part);
    if (*mode)
        buf_printf(b, " %s", mode);
}

void msql_set_schema(Buf *b, const char *schema, const char *table, const char *target)
{
    buf_append(b, "ALTER TABLE ");
    quote_qualified(b, schema, table);
    buf_append(b, " SET SCHEMA ");
    quote_ident(b, target);
}

void msql_set_tablespace(Buf *b, const char *schema, const char *table, const char *tablespace)
{
    buf_append(b, "ALTER TABLE ");
    quote_qualified(b, schema, table);
    buf_append(b, " SET TABLESPACE ");
    quote_ident(b, tablespace);
}
