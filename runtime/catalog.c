/* catalog.c: the runtime's questions to the catalogs about one table, its
 * partitions, indexes and bounds, and the session's setup (the ledger's
 * queries are in ledger.c).  The rest of the catalog module:
 * catalog_sql.c (statement text, no queries), catalog_status.c (many
 * tables at once) and catalog_init.c (partmig init's reads). */
#include "catalog.h"

#include <stdlib.h>
#include <string.h>

#include "../common/buf.h"
#include "../common/quote.h"

bool catalog_session_setup(PgConn *c, Err *err)
{
    return pg_run(c,
                  "SELECT pg_catalog.set_config('client_min_messages', 'warning', false), "
                  "pg_catalog.set_config('TimeZone', 'UTC', false), "
                  "pg_catalog.set_config('standard_conforming_strings', 'on', false), "
                  "pg_catalog.set_config('statement_timeout', '0', false), "
                  /* a killed partmig must not leave its backend running a long
                   * statement (and holding the runner lock) until it ends */
                  "pg_catalog.set_config('client_connection_check_interval', '1s', false)",
                  err);
}

/* What in SCHEMA a role other than the connected one and the superusers
 * owns or may change: one row per finding, (what, object, role). */
static const char *const untrusted_sql =
    "WITH s AS (SELECT oid, nspowner, nspacl FROM pg_catalog.pg_namespace WHERE nspname = $1), "
    "trusted AS (SELECT oid FROM pg_catalog.pg_roles WHERE rolsuper OR rolname = current_user), "
    "x (what, name, role) AS ("
    " SELECT 'owns the schema', pg_catalog.quote_ident($1), s.nspowner FROM s"
    " UNION ALL SELECT 'may create objects in the schema', pg_catalog.quote_ident($1), a.grantee"
    "  FROM s, pg_catalog.aclexplode(s.nspacl) a WHERE a.privilege_type = 'CREATE'"
    " UNION ALL SELECT 'owns', c.oid::pg_catalog.regclass::text, c.relowner"
    "  FROM s JOIN pg_catalog.pg_class c ON c.relnamespace = s.oid"
    " UNION ALL SELECT 'has ' || a.privilege_type || ' on', c.oid::pg_catalog.regclass::text, a.grantee"
    "  FROM s JOIN pg_catalog.pg_class c ON c.relnamespace = s.oid, pg_catalog.aclexplode(c.relacl) a"
    "  WHERE a.privilege_type NOT IN ('SELECT', 'USAGE')"
    " UNION ALL SELECT 'has ' || a.privilege_type || ' on a column of', c.oid::pg_catalog.regclass::text, a.grantee"
    "  FROM s JOIN pg_catalog.pg_class c ON c.relnamespace = s.oid"
    "  JOIN pg_catalog.pg_attribute t ON t.attrelid = c.oid, pg_catalog.aclexplode(t.attacl) a"
    "  WHERE a.privilege_type <> 'SELECT'"
    " UNION ALL SELECT 'owns', p.oid::pg_catalog.regprocedure::text, p.proowner"
    "  FROM s JOIN pg_catalog.pg_proc p ON p.pronamespace = s.oid"
    " UNION ALL SELECT 'owns', t.oid::pg_catalog.regtype::text, t.typowner"
    "  FROM s JOIN pg_catalog.pg_type t ON t.typnamespace = s.oid"
    " UNION ALL SELECT 'owns operator', o.oid::pg_catalog.regoperator::text, o.oprowner"
    "  FROM s JOIN pg_catalog.pg_operator o ON o.oprnamespace = s.oid"
    " UNION ALL SELECT 'owns collation', o.collname::text, o.collowner"
    "  FROM s JOIN pg_catalog.pg_collation o ON o.collnamespace = s.oid"
    " UNION ALL SELECT 'owns conversion', o.conname::text, o.conowner"
    "  FROM s JOIN pg_catalog.pg_conversion o ON o.connamespace = s.oid"
    " UNION ALL SELECT 'owns operator class', o.opcname::text, o.opcowner"
    "  FROM s JOIN pg_catalog.pg_opclass o ON o.opcnamespace = s.oid"
    " UNION ALL SELECT 'owns operator family', o.opfname::text, o.opfowner"
    "  FROM s JOIN pg_catalog.pg_opfamily o ON o.opfnamespace = s.oid"
    " UNION ALL SELECT 'owns text search configuration', o.cfgname::text, o.cfgowner"
    "  FROM s JOIN pg_catalog.pg_ts_config o ON o.cfgnamespace = s.oid"
    " UNION ALL SELECT 'owns text search dictionary', o.dictname::text, o.dictowner"
    "  FROM s JOIN pg_catalog.pg_ts_dict o ON o.dictnamespace = s.oid"
    " UNION ALL SELECT 'owns statistics object', o.stxname::text, o.stxowner"
    "  FROM s JOIN pg_catalog.pg_statistic_ext o ON o.stxnamespace = s.oid"
    ") "
    "SELECT CASE WHEN x.role = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.role)) END,"
    " x.what, x.name, current_user "
    "FROM x WHERE x.role NOT IN (SELECT oid FROM trusted) ORDER BY 1, 2, 3";

bool catalog_check_schema_trust(PgConn *c, const char *schema, const char *what, Err *err)
{
    const char *p[1] = {schema};
    PgResult *r = NULL;
    if (!pg_exec(c, untrusted_sql, 1, p, &r, err))
        return false;
    int n = pg_nrows(r);
    if (n > 0) {
        err_set(err, PM_EDB, "%s (schema \"%s\") is not safe to use: role %s %s %s%s", what, schema, pg_get(r, 0, 0),
                pg_get(r, 0, 1), pg_get(r, 0, 2), n > 1 ? " (and more)" : "");
        err_hint(err,
                 "partmig runs as %s and trusts only that role and superusers there, since whoever owns or may "
                 "change those objects could run code as %s; inspect them and drop or re-own what you did not "
                 "create, or run partmig as the role that made them (PGOPTIONS='-c role=NAME')",
                 pg_get(r, 0, 3), pg_get(r, 0, 3));
    }
    pg_result_free(r);
    return n == 0;
}

bool catalog_table_info(PgConn *c, const char *schema, const char *table, Arena *arena, TableInfo *out, Err *err)
{
    memset(out, 0, sizeof *out);
    out->key = out->key_type = "";
    const char *p[2] = {schema, table};
    PgResult *r = NULL;
    if (!pg_exec(c,
                 "SELECT c.relkind, coalesce(pt.partstrat::text, ''), "
                 "coalesce(regexp_replace(pg_catalog.pg_get_partkeydef(c.oid), '^[A-Z]+ \\((.*)\\)$', '\\1'), ''), "
                 "coalesce((SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
                 "WHERE a.attrelid = c.oid AND a.attnum = pt.partattrs[0]), ''), c.relispartition "
                 "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                 "LEFT JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = c.oid "
                 "WHERE n.nspname = $1 AND c.relname = $2",
                 2, p, &r, err))
        return false;
    if (pg_nrows(r) == 1) {
        out->exists = true;
        out->relkind = pg_get(r, 0, 0)[0];
        out->strategy = pg_get(r, 0, 1)[0];
        out->key = arena_strdup(arena, pg_get(r, 0, 2));
        out->key_type = arena_strdup(arena, pg_get(r, 0, 3));
        out->is_partition = !strcmp(pg_get(r, 0, 4), "t");
    }
    pg_result_free(r);
    return true;
}

bool catalog_column_type(PgConn *c, const char *schema, const char *table, const char *column, Arena *arena,
                         const char **type, Err *err)
{
    const char *p[3] = {schema, table, column};
    return pg_query_text(
        c,
        "SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a "
        "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped",
        3, p, arena, type, err);
}

/* Partitions of the relation named by $1.$2 (schema, name), with bounds split. */
static const char *const partitions_sql =
    "WITH p AS ("
    " SELECT n.nspname, c.relname, pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound, c.relkind, "
    " c.reltuples, pg_catalog.pg_total_relation_size(c.oid) AS bytes, coalesce(ts.spcname, 'pg_default') AS ts "
    " FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid "
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    " LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace "
    " WHERE i.inhparent = pg_catalog.to_regclass(pg_catalog.format('%I.%I', $1::text, $2::text))), "
    "q AS (SELECT *, CASE WHEN bound LIKE 'FOR VALUES FROM (%' THEN "
    " btrim(split_part(substr(bound, 18), ') TO (', 1), '''') ELSE '' END AS lo, "
    " CASE WHEN bound LIKE 'FOR VALUES FROM (%' THEN "
    " btrim(rtrim(split_part(bound, ') TO (', 2), ')'), '''') ELSE '' END AS hi FROM p) "
    "SELECT nspname, relname, bound, bound = 'DEFAULT', lo, hi, relkind, reltuples, bytes, ts FROM q "
    "ORDER BY bound = 'DEFAULT', lo LIKE '-%' DESC, length(lo), lo, relname";

bool catalog_partitions(PgConn *c, const char *schema, const char *table, Arena *arena, PartInfo **out, int *n,
                        Err *err)
{
    const char *p[2] = {schema, table};
    PgResult *r = NULL;
    if (!pg_exec(c, partitions_sql, 2, p, &r, err))
        return false;
    *n = pg_nrows(r);
    *out = arena_alloc(arena, sizeof **out * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) {
        PartInfo *pi = &(*out)[i];
        pi->schema = arena_strdup(arena, pg_get(r, i, 0));
        pi->name = arena_strdup(arena, pg_get(r, i, 1));
        pi->bound = arena_strdup(arena, pg_get(r, i, 2));
        pi->is_default = !strcmp(pg_get(r, i, 3), "t");
        pi->from = arena_strdup(arena, pg_get(r, i, 4));
        pi->to = arena_strdup(arena, pg_get(r, i, 5));
        pi->relkind = pg_get(r, i, 6)[0];
        pi->reltuples = strtod(pg_get(r, i, 7), NULL);
        pi->bytes = pg_get_int(r, i, 8);
        pi->tablespace = arena_strdup(arena, pg_get(r, i, 9));
    }
    pg_result_free(r);
    return true;
}

bool catalog_range_overlap(PgConn *c, const char *schema, const char *table, const char *key_type, const char *tz,
                           const char *lo, const char *hi, Arena *arena, const char **overlapping, Err *err)
{
    /* one cast per key kind: a CASE over kinds would still fold the casts
     * of the other kinds' constants, and fail on them */
    const char *cmp;
    if (!strcmp(key_type, "timestamp with time zone"))
        cmp = "(q.lo = 'MINVALUE' OR q.lo::timestamptz < ($4::timestamp AT TIME ZONE $5)) AND "
              "(q.hi = 'MAXVALUE' OR q.hi::timestamptz > ($3::timestamp AT TIME ZONE $5))";
    else if (!strcmp(key_type, "timestamp without time zone") || !strcmp(key_type, "date"))
        cmp = "(q.lo = 'MINVALUE' OR q.lo::timestamp < $4::timestamp) AND "
              "(q.hi = 'MAXVALUE' OR q.hi::timestamp > $3::timestamp) AND $5::text IS NOT NULL";
    else
        cmp = "(q.lo = 'MINVALUE' OR q.lo::numeric < $4::numeric) AND "
              "(q.hi = 'MAXVALUE' OR q.hi::numeric > $3::numeric) AND $5::text IS NOT NULL";
    const char *p[5] = {schema, table, lo, hi, tz};
    /* partitions_sql ends in ORDER BY: wrap it */
    const char *sql = arena_printf(arena,
                                   "SELECT q.relname FROM (%s) q(nspname, relname, bound, is_default, lo, hi) "
                                   "WHERE q.lo <> '' AND %s LIMIT 1",
                                   partitions_sql, cmp);
    return pg_query_text(c, sql, 5, p, arena, overlapping, err);
}

bool catalog_partition_bound(PgConn *c, const char *schema, const char *name, Arena *arena, const char **bound,
                             Err *err)
{
    const char *p[2] = {schema, name};
    return pg_query_text(
        c,
        "SELECT coalesce(pg_catalog.pg_get_expr(c.relpartbound, c.oid), '') FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
        2, p, arena, bound, err);
}

bool catalog_relation_exists(PgConn *c, const char *schema, const char *name, bool *exists, Err *err)
{
    const char *p[2] = {schema, name};
    return pg_query_bool(c,
                         "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                         "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)",
                         2, p, exists, err);
}

bool catalog_relation_empty(PgConn *c, const char *schema, const char *name, bool *empty, Err *err)
{
    Buf q = {0};
    buf_append(&q, "SELECT NOT EXISTS (SELECT 1 FROM ");
    quote_qualified(&q, schema, name);
    buf_append(&q, ")");
    PgResult *r = NULL;
    bool ok = pg_exec(c, buf_str(&q), 0, NULL, &r, err);
    if (ok)
        *empty = !strcmp(pg_get(r, 0, 0), "t");
    pg_result_free(r);
    buf_free(&q);
    return ok;
}

bool catalog_count_rows(PgConn *c, const char *schema, const char *name, int64_t *count, Err *err)
{
    Buf q = {0};
    buf_append(&q, "SELECT count(*) FROM ");
    quote_qualified(&q, schema, name);
    PgResult *r = NULL;
    bool ok = pg_exec(c, buf_str(&q), 0, NULL, &r, err);
    if (ok)
        *count = pg_get_int(r, 0, 0);
    pg_result_free(r);
    buf_free(&q);
    return ok;
}

bool catalog_count_range(PgConn *c, const char *schema, const char *name, const char *column, const char *lo,
                         const char *hi, int64_t *count, Err *err)
{
    Buf q = {0};
    buf_append(&q, "SELECT count(*) FROM ");
    quote_qualified(&q, schema, name);
    buf_append(&q, " WHERE ");
    quote_ident(&q, column);
    buf_append(&q, " >= $1 AND ");
    quote_ident(&q, column);
    buf_append(&q, " < $2");
    const char *p[2] = {lo, hi};
    PgResult *r = NULL;
    bool ok = pg_exec(c, buf_str(&q), 2, p, &r, err);
    if (ok)
        *count = pg_get_int(r, 0, 0);
    pg_result_free(r);
    buf_free(&q);
    return ok;
}

bool catalog_now_in_zone(PgConn *c, const char *tz, Arena *arena, const char **now, Err *err)
{
    const char *p[1] = {tz};
    PgResult *r = NULL;
    if (!pg_exec(c, "SELECT to_char(now() AT TIME ZONE $1, 'YYYY-MM-DD HH24')", 1, p, &r, err))
        return false;
    *now = arena_strdup(arena, pg_get(r, 0, 0));
    pg_result_free(r);
    return true;
}

bool catalog_key_range(PgConn *c, const char *schema, const char *table, const char *column, const char *tz,
                       bool integer_key, Arena *arena, const char **min, const char **max, Err *err)
{
    const char *type = "";
    if (!catalog_column_type(c, schema, table, column, arena, &type, err))
        return false;
    Buf col = {0}, q = {0};
    quote_ident(&col, column);
    int nparams = 0;
    if (integer_key)
        buf_printf(&q, "SELECT min(%s)::text, max(%s)::text FROM ", buf_str(&col), buf_str(&col));
    else if (!strcmp(type, "timestamp with time zone")) {
        /* wall clock in the policy's zone */
        buf_printf(&q,
                   "SELECT to_char(min(%s) AT TIME ZONE $1, 'YYYY-MM-DD HH24'), "
                   "to_char(max(%s) AT TIME ZONE $1, 'YYYY-MM-DD HH24') FROM ",
                   buf_str(&col), buf_str(&col));
        nparams = 1;
    } else
        buf_printf(&q,
                   "SELECT to_char(min(%s)::timestamp, 'YYYY-MM-DD HH24'), "
                   "to_char(max(%s)::timestamp, 'YYYY-MM-DD HH24') FROM ",
                   buf_str(&col), buf_str(&col));
    quote_qualified(&q, schema, table);
    const char *p[1] = {tz};
    PgResult *r = NULL;
    bool ok = pg_exec(c, buf_str(&q), nparams, p, &r, err);
    if (ok) {
        *min = arena_strdup(arena, pg_get(r, 0, 0));
        *max = arena_strdup(arena, pg_get(r, 0, 1));
    }
    pg_result_free(r);
    buf_free(&col);
    buf_free(&q);
    return ok;
}

bool catalog_index_info(PgConn *c, const char *schema, const char *name, Arena *arena, IndexInfo *out, Err *err)
{
    memset(out, 0, sizeof *out);
    out->table = out->using = out->parent = "";
    const char *p[2] = {schema, name};
    PgResult *r = NULL;
    if (!pg_exec(c,
                 "SELECT x.indisvalid, c.relkind = 'I', x.indisunique, "
                 "pg_catalog.format('%s.%s', tn.nspname, t.relname), "
                 "coalesce(substring(pg_catalog.pg_get_indexdef(c.oid) from ' USING (.*)$'), ''), "
                 "coalesce((SELECT pg_catalog.format('%s.%s', pn.nspname, pc.relname) FROM pg_catalog.pg_inherits h "
                 "JOIN pg_catalog.pg_class pc ON pc.oid = h.inhparent "
                 "JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace WHERE h.inhrelid = c.oid), '') "
                 "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                 "JOIN pg_catalog.pg_index x ON x.indexrelid = c.oid "
                 "JOIN pg_catalog.pg_class t ON t.oid = x.indrelid "
                 "JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace "
                 "WHERE n.nspname = $1 AND c.relname = $2",
                 2, p, &r, err))
        return false;
    if (pg_nrows(r) == 1) {
        out->exists = true;
        out->valid = !strcmp(pg_get(r, 0, 0), "t");
        out->partitioned = !strcmp(pg_get(r, 0, 1), "t");
        out->unique = !strcmp(pg_get(r, 0, 2), "t");
        out->table = arena_strdup(arena, pg_get(r, 0, 3));
        out->using = arena_strdup(arena, pg_get(r, 0, 4));
        out->parent = arena_strdup(arena, pg_get(r, 0, 5));
    }
    pg_result_free(r);
    return true;
}

bool catalog_attached_index(PgConn *c, const char *schema, const char *part, const char *parent_schema,
                            const char *parent_index, Arena *arena, const char **name, bool *valid, Err *err)
{
    const char *p[4] = {schema, part, parent_schema, parent_index};
    PgResult *r = NULL;
    if (!pg_exec(c,
                 "SELECT ci.relname, x.indisvalid FROM pg_catalog.pg_inherits h "
                 "JOIN pg_catalog.pg_class ci ON ci.oid = h.inhrelid "
                 "JOIN pg_catalog.pg_index x ON x.indexrelid = ci.oid "
                 "WHERE h.inhparent = pg_catalog.to_regclass(pg_catalog.format('%I.%I', $3::text, $4::text)) "
                 "AND x.indrelid = pg_catalog.to_regclass(pg_catalog.format('%I.%I', $1::text, $2::text))",
                 4, p, &r, err))
        return false;
    *name = arena_strdup(arena, pg_nrows(r) ? pg_get(r, 0, 0) : "");
    *valid = pg_nrows(r) && !strcmp(pg_get(r, 0, 1), "t");
    pg_result_free(r);
    return true;
}

bool catalog_lock_holders(PgConn *c, const char *schema, const char *table, Arena *arena, const char **who, Err *err)
{
    const char *p[2] = {schema, table};
    PgResult *r = NULL;
    if (!pg_exec(c,
                 "WITH rels AS (SELECT relid FROM pg_catalog.pg_partition_tree("
                 " pg_catalog.to_regclass(pg_catalog.format('%I.%I', $1::text, $2::text)))) "
                 "SELECT coalesce(string_agg(DISTINCT pg_catalog.format("
                 "'pid %s holds %s on %s (application \"%s\", client %s, %s since %s, query: %s)', "
                 "l.pid, l.mode, l.relation::regclass, coalesce(a.application_name, ''), "
                 "coalesce(host(a.client_addr), 'local socket'), coalesce(a.state, '?'), "
                 "to_char(a.state_change, 'YYYY-MM-DD HH24:MI:SS TZ'), "
                 "left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 80)), '; '), '') "
                 "FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid "
                 "WHERE l.relation IN (SELECT relid FROM rels) AND l.granted "
                 "AND l.pid <> pg_catalog.pg_backend_pid()",
                 2, p, &r, err))
        return false;
    *who = arena_strdup(arena, pg_get(r, 0, 0));
    pg_result_free(r);
    return true;
}

bool catalog_bound_wall(PgConn *c, const char *key_type, const char *bound, const char *tz, Arena *arena,
                        const char **wall, Err *err)
{
    const char *p[2] = {bound, tz};
    bool with_zone = !strcmp(key_type, "timestamp with time zone");
    return pg_query_text(c,
                         with_zone ? "SELECT to_char($1::timestamptz AT TIME ZONE $2, 'YYYY-MM-DD HH24:00:00')"
                                   : "SELECT to_char($1::timestamp, 'YYYY-MM-DD HH24:00:00')",
                         with_zone ? 2 : 1, p, arena, wall, err);
}

bool catalog_compare_bound(PgConn *c, const char *key_type, const char *bound, const char *wall, const char *tz,
                           int *cmp, Err *err)
{
    const char *p[3] = {bound, wall, tz};
    PgResult *r = NULL;
    bool with_zone = !strcmp(key_type, "timestamp with time zone");
    if (!pg_exec(c,
                 with_zone ? "SELECT sign(extract(epoch FROM $1::timestamptz - ($2::timestamp AT TIME ZONE $3)))::int"
                           : "SELECT sign(extract(epoch FROM $1::timestamp - $2::timestamp))::int",
                 with_zone ? 3 : 2, p, &r, err))
        return false;
    *cmp = (int)pg_get_int(r, 0, 0);
    pg_result_free(r);
    return true;
}

bool catalog_normalize_bound(PgConn *c, const char *schema, const char *parent, const char *bound_sql, Arena *arena,
                             const char **normalized, Err *err)
{
    const char *p[2] = {schema, parent};
    PgResult *r = NULL;
    Buf q = {0};
    bool ok = false;
    if (!pg_run(c, "BEGIN", err))
        return false;
    if (!pg_exec(c,
                 "SELECT pg_catalog.pg_get_partkeydef(pg_catalog.to_regclass(pg_catalog.format('%I.%I', $1::text, "
                 "$2::text)))",
                 2, p, &r, err))
        goto done;
    if (pg_isnull(r, 0, 0)) {
        err_set(err, PM_EDB, "\"%s.%s\" is not a partitioned table", schema, parent);
        goto done;
    }
    buf_append(&q, "CREATE TEMPORARY TABLE partmig_verify_parent (LIKE ");
    quote_qualified(&q, schema, parent);
    /* the key definition comes from pg_get_partkeydef: PostgreSQL's own quoting */
    buf_printf(&q,
               ") PARTITION BY %s;\nCREATE TEMPORARY TABLE partmig_verify_part PARTITION OF "
               "partmig_verify_parent %s",
               pg_get(r, 0, 0), bound_sql);
    if (!pg_exec_script(c, buf_str(&q), err))
        goto done;
    pg_result_free(r);
    r = NULL;
    if (!pg_exec(c,
                 "SELECT pg_catalog.pg_get_expr(c.relpartbound, c.oid) FROM pg_catalog.pg_class c "
                 "WHERE c.oid = 'pg_temp.partmig_verify_part'::regclass",
                 0, NULL, &r, err))
        goto done;
    *normalized = arena_strdup(arena, pg_get(r, 0, 0));
    ok = true;
done:
    pg_result_free(r);
    buf_free(&q);
    Err ignored;
    pg_run(c, "ROLLBACK", &ignored);
    return ok;
}

bool catalog_extension_state(PgConn *c, const char *name, Arena *arena, const char **state, Err *err)
{
    const char *p[1] = {name};
    return pg_query_text(
        c,
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = $1)"
        " THEN 'installed' WHEN (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)"
        " THEN 'superuser' WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_available_extension_versions"
        " WHERE name = $1 AND trusted) THEN 'trusted' ELSE 'refused: ' || current_user END",
        1, p, arena, state, err);
}

/* The statements carrying grants, owner, reloptions and replica identity
 * to partition $1.$3 of $1.$2, one per row, in the order they must run. */
static const char *const carry_sql =
    "WITH parent AS (SELECT c.oid, c.relacl, c.relowner, c.relreplident FROM pg_catalog.pg_class c "
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1::text AND c.relname = $2::text), "
    "part AS (SELECT c.oid, c.relkind, c.relowner, c.reloptions, pg_catalog.format('%I.%I', $1::text, $3::text) AS q "
    " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    " WHERE n.nspname = $1::text AND c.relname = $3::text), "
    "tmpl AS (SELECT c.oid, c.reloptions, c.relreplident FROM parent JOIN pg_catalog.pg_inherits i "
    " ON i.inhparent = parent.oid JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid "
    " WHERE c.oid <> (SELECT oid FROM part) AND pg_catalog.pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT' "
    " ORDER BY c.oid DESC LIMIT 1), "
    "ri AS (SELECT CASE WHEN parent.relreplident <> 'd' THEN parent.relreplident "
    " ELSE coalesce((SELECT relreplident FROM tmpl), 'd') END AS kind, "
    " CASE WHEN parent.relreplident = 'i' THEN (SELECT x.indexrelid FROM pg_catalog.pg_index x "
    "  WHERE x.indrelid = parent.oid AND x.indisreplident) "
    " ELSE (SELECT i.inhparent FROM tmpl JOIN pg_catalog.pg_index x ON x.indrelid = tmpl.oid AND x.indisreplident "
    "  JOIN pg_catalog.pg_inherits i ON i.inhrelid = x.indexrelid) END AS parent_index FROM parent) "
    "SELECT 1, pg_catalog.format('ALTER TABLE %s OWNER TO %I', part.q, pg_catalog.pg_get_userbyid(parent.relowner)) "
    " FROM part, parent WHERE part.relowner <> parent.relowner "
    " AND pg_catalog.pg_has_role(current_user, parent.relowner, 'MEMBER') "
    "UNION ALL SELECT 2, pg_catalog.format('GRANT %s ON %s TO %s%s', g.privilege_type, part.q, "
    " CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END, "
    " CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) "
    " FROM part, parent, pg_catalog.aclexplode(parent.relacl) g WHERE g.grantee <> parent.relowner "
    "UNION ALL SELECT 3, pg_catalog.format('GRANT %s (%I) ON %s TO %s%s', g.privilege_type, a.attname, part.q, "
    " CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END, "
    " CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END) "
    " FROM part, parent JOIN pg_catalog.pg_attribute a ON a.attrelid = parent.oid AND a.attnum > 0 "
    " AND NOT a.attisdropped, pg_catalog.aclexplode(a.attacl) g WHERE g.grantee <> parent.relowner "
    "UNION ALL SELECT 4, pg_catalog.format('ALTER TABLE %s SET (%s)', part.q, (SELECT pg_catalog.string_agg("
    " pg_catalog.quote_ident(split_part(o, '=', 1)) || ' = ' || pg_catalog.quote_literal(substr(o, strpos(o, '=') + "
    "1)),"
    " ', ') FROM unnest(tmpl.reloptions) o)) "
    " FROM part, tmpl WHERE part.relkind = 'r' AND tmpl.reloptions IS NOT NULL "
    " AND part.reloptions IS DISTINCT FROM tmpl.reloptions "
    "UNION ALL SELECT 5, pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY %s', part.q, CASE ri.kind "
    " WHEN 'f' THEN 'FULL' WHEN 'n' THEN 'NOTHING' ELSE 'USING INDEX ' || (SELECT pg_catalog.quote_ident(ic.relname) "
    "  FROM pg_catalog.pg_index x JOIN pg_catalog.pg_inherits i ON i.inhrelid = x.indexrelid "
    "  JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid "
    "  WHERE x.indrelid = part.oid AND i.inhparent = ri.parent_index) END) "
    " FROM part, ri WHERE ri.kind IN ('f', 'n') OR (ri.kind = 'i' AND EXISTS (SELECT 1 FROM pg_catalog.pg_index x "
    "  JOIN pg_catalog.pg_inherits i ON i.inhrelid = x.indexrelid WHERE x.indrelid = part.oid "
    "  AND i.inhparent = ri.parent_index)) "
    "ORDER BY 1, 2";

bool catalog_partition_carry(PgConn *c, const char *schema, const char *table, const char *part, Arena *arena,
                             const char **carried, Err *err)
{
    const char *p[3] = {schema, table, part};
    PgResult *r = NULL;
    *carried = "";
    if (!pg_exec(c, carry_sql, 3, p, &r, err))
        return false;
    Buf b = {0};
    for (int i = 0; i < pg_nrows(r); i++)
        buf_printf(&b, "%s;\n", pg_get(r, i, 1));
    pg_result_free(r);
    bool ok = !b.len || pg_exec_script(c, buf_str(&b), err);
    if (ok)
        *carried = arena_strdup(arena, b.len ? buf_str(&b) : "");
    buf_free(&b);
    return ok;
}
