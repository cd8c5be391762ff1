/* catalog_maintain.c: the catalog questions partmig maintain asks beyond
 * catalog.c's -- standby or not, foreign keys, detach-pending partitions,
 * indexes, leaves, tablespaces, columns, and a pg_partman table's
 * partitions with their rows. */
#include <string.h>

#include "../common/buf.h"
#include "../common/quote.h"
#include "catalog.h"

/* One text column from SQL into ARENA strings. */
static bool query_column(PgConn *c, const char *sql, int nparams, const char *const *params, Arena *arena,
                         const char ***out, int *n, Err *err)
{
    PgResult *r = NULL;
    if (!pg_exec(c, sql, nparams, params, &r, err))
        return false;
    *n = pg_nrows(r);
    *out = pg_column_strings(r, 0, arena);
    pg_result_free(r);
    return true;
}

#define REGCLASS(a, b) "pg_catalog.to_regclass(pg_catalog.format('%I.%I', " a "::text, " b "::text))"

bool catalog_in_recovery(PgConn *c, bool *standby, Err *err)
{
    return pg_query_bool(c, "SELECT pg_catalog.pg_is_in_recovery()", 0, NULL, standby, err);
}

bool catalog_fk_reference(PgConn *c, const char *schema, const char *part, const char *pschema, const char *parent,
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

bool catalog_detach_pending(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***names, int *n,
                            Err *err)
{
    const char *p[2] = {schema, table};
    return query_column(
        c,
        "SELECT c.relname FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = " REGCLASS("$1", "$2") " AND i.inhdetachpending ORDER BY 1",
        2, p, arena, names, n, err);
}

bool catalog_indexes(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***names,
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
    *names = pg_column_strings(r, 0, arena);
    *constraints = pg_column_strings(r, 1, arena);
    pg_result_free(r);
    return true;
}

bool catalog_leaves(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***schemas,
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
    *schemas = pg_column_strings(r, 0, arena);
    *names = pg_column_strings(r, 1, arena);
    pg_result_free(r);
    return true;
}

bool catalog_tablespace_of(PgConn *c, const char *schema, const char *name, Arena *arena, const char **tablespace,
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

bool catalog_tablespace_exists(PgConn *c, const char *name, bool *exists, Err *err)
{
    const char *p[1] = {name};
    return pg_query_bool(c, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tablespace WHERE spcname = $1)", 1, p, exists,
                         err);
}

bool catalog_relation_state(PgConn *c, const char *schema, const char *name, bool *exists, bool *partition, Err *err)
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

bool catalog_column_list(PgConn *c, const char *schema, const char *table, Arena *arena, const char **list, Err *err)
{
    const char *p[2] = {schema, table};
    const char **names;
    int n;
    if (!query_column(c,
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
    *list = buf_to_arena(&b, arena);
    return true;
}

bool catalog_children_rows(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***oids,
                           const char ***schemas, const char ***names, int64_t **rows, bool **estimated, int *n,
                           Err *err)
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

bool catalog_relation_name(PgConn *c, const char *oid, Arena *arena, const char **qname, Err *err)
{
    const char *p[1] = {oid};
    return pg_query_text(c,
                         "SELECT n.nspname || '.' || k.relname FROM pg_catalog.pg_class k"
                         " JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace WHERE k.oid = $1::oid",
                         1, p, arena, qname, err);
}
