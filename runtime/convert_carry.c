/* convert_carry.c: what a converted table takes along from the original --
 * dependent views, grants, row level security, storage parameters, owner,
 * owned sequences and identity sequences. */
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

bool conv_views_capture(Conv *v, const char *oid, Buf *out, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {oid};
    if (!pg_exec(v->c,
                 "SELECT DISTINCT vc.oid::regclass::text, pg_get_viewdef(vc.oid) FROM pg_depend d"
                 " JOIN pg_rewrite rw ON rw.oid = d.objid JOIN pg_class vc ON vc.oid = rw.ev_class"
                 " WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass"
                 " AND d.refobjid = $1::oid AND vc.oid <> $1::oid AND vc.relkind = 'v' ORDER BY 1",
                 1, params, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        /* the name and the definition are the server's own quoted text */
        const char *def = pg_get(r, i, 1);
        size_t n = strlen(def);
        while (n > 0 && (def[n - 1] == ';' || def[n - 1] == '\n' || def[n - 1] == ' '))
            n--;
        buf_printf(out, "CREATE OR REPLACE VIEW %s AS %.*s;\n", pg_get(r, i, 0), (int)n, def);
    }
    pg_result_free(r);
    return true;
}

/* "role [WITH GRANT OPTION];" of row I: the grantee in column WHO (NULL:
 * PUBLIC), is_grantable in column GRANTABLE. */
static void grantee_tail(Buf *out, const PgResult *r, int i, int who, int grantable)
{
    if (pg_isnull(r, i, who))
        buf_append(out, "PUBLIC");
    else
        quote_ident(out, pg_get(r, i, who));
    buf_append(out, pg_get(r, i, grantable)[0] == 't' ? " WITH GRANT OPTION;\n" : ";\n");
}

bool conv_grants_copy(Conv *v, const char *from_oid, const char *to, Buf *out, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {from_oid};
    if (!pg_exec(v->c,
                 "SELECT CASE WHEN g.grantee = 0 THEN NULL ELSE pg_get_userbyid(g.grantee) END, g.privilege_type,"
                 " g.is_grantable FROM pg_class c, aclexplode(c.relacl) g"
                 " WHERE c.oid = $1::oid AND g.grantee <> c.relowner ORDER BY 1, 2",
                 1, params, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        buf_printf(out, "GRANT %s ON %s TO ", pg_get(r, i, 1), to);
        grantee_tail(out, r, i, 0, 2);
    }
    pg_result_free(r);
    r = NULL;
    /* column privileges (attacl) */
    if (!pg_exec(v->c,
                 "SELECT a.attname, CASE WHEN g.grantee = 0 THEN NULL ELSE pg_get_userbyid(g.grantee) END,"
                 " g.privilege_type, g.is_grantable FROM pg_class c"
                 " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped,"
                 " aclexplode(a.attacl) g WHERE c.oid = $1::oid AND g.grantee <> c.relowner ORDER BY a.attnum, 2, 3",
                 1, params, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        buf_printf(out, "GRANT %s (", pg_get(r, i, 2));
        quote_ident(out, pg_get(r, i, 0));
        buf_printf(out, ") ON %s TO ", to);
        grantee_tail(out, r, i, 1, 3);
    }
    pg_result_free(r);
    return true;
}

bool conv_row_security_copy(Conv *v, const char *from_oid, const char *to, Buf *out, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {from_oid};
    if (!pg_exec(v->c, "SELECT c.relrowsecurity, c.relforcerowsecurity FROM pg_class c WHERE c.oid = $1::oid", 1,
                 params, &r, err))
        return false;
    if (pg_nrows(r) > 0 && pg_get(r, 0, 0)[0] == 't')
        buf_printf(out, "ALTER TABLE %s ENABLE ROW LEVEL SECURITY;\n", to);
    if (pg_nrows(r) > 0 && pg_get(r, 0, 1)[0] == 't')
        buf_printf(out, "ALTER TABLE %s FORCE ROW LEVEL SECURITY;\n", to);
    pg_result_free(r);
    r = NULL;
    if (!pg_exec(v->c,
                 "SELECT p.polname, p.polpermissive, p.polcmd::text,"
                 " ARRAY(SELECT CASE WHEN o = 0 THEN NULL ELSE pg_get_userbyid(o) END FROM unnest(p.polroles) o)::text,"
                 " pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)"
                 " FROM pg_policy p WHERE p.polrelid = $1::oid ORDER BY p.polname",
                 1, params, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        char cmd = pg_get(r, i, 2)[0];
        const char *cmd_sql = cmd == 'r'   ? "SELECT"
                              : cmd == 'a' ? "INSERT"
                              : cmd == 'w' ? "UPDATE"
                              : cmd == 'd' ? "DELETE"
                                           : "ALL";
        const char **roles = NULL;
        int nroles = 0;
        if (!sql_parse_text_array(pg_get(r, i, 3), v->a, &roles, &nroles)) {
            pg_result_free(r);
            return err_set(err, PM_EDB, "cannot read the roles of policy \"%s\" on \"%s\"", pg_get(r, i, 0), v->qname);
        }
        buf_append(out, "CREATE POLICY ");
        quote_ident(out, pg_get(r, i, 0));
        buf_printf(out, " ON %s AS %s FOR %s TO ", to, pg_get(r, i, 1)[0] == 't' ? "PERMISSIVE" : "RESTRICTIVE",
                   cmd_sql);
        for (int j = 0; j < nroles; j++) {
            if (j)
                buf_append(out, ", ");
            if (roles[j])
                quote_ident(out, roles[j]);
            else
                buf_append(out, "PUBLIC");
        }
        if (nroles == 0)
            buf_append(out, "PUBLIC");
        if (!pg_isnull(r, i, 4))
            buf_printf(out, " USING (%s)", pg_get(r, i, 4));
        if (!pg_isnull(r, i, 5))
            buf_printf(out, " WITH CHECK (%s)", pg_get(r, i, 5));
        buf_append(out, ";\n");
    }
    pg_result_free(r);
    return true;
}

bool conv_reloptions_copy(Conv *v, const char *table, Buf *out, Err *err)
{
    if (v->f.nreloptions == 0)
        return true;
    Buf set = {0};
    for (int i = 0; i < v->f.nreloptions; i++) {
        const char *opt = v->f.reloptions[i], *eq = strchr(opt, '=');
        if (!eq)
            continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - opt), opt);
        if (set.len)
            buf_append(&set, ", ");
        quote_ident(&set, name);
        buf_append(&set, " = ");
        quote_literal(&set, eq + 1);
    }
    PgResult *r = NULL;
    const char *params[] = {table};
    bool ok = pg_exec(v->c,
                      "SELECT t.relid::regclass::text FROM pg_partition_tree($1::regclass) t WHERE t.isleaf"
                      " AND t.relid <> $1::regclass ORDER BY 1",
                      1, params, &r, err);
    for (int i = 0; ok && i < pg_nrows(r); i++)
        buf_printf(out, "ALTER TABLE %s SET (%s);\n", pg_get(r, i, 0), buf_str(&set));
    pg_result_free(r);
    buf_free(&set);
    return ok;
}

bool conv_owner_copy(Conv *v, const char *table, const char *owner, Buf *out, Err *err)
{
    PgResult *r = NULL;
    const char *p2[] = {table, owner};
    if (!pg_exec(v->c,
                 "SELECT t.relid::regclass::text FROM pg_partition_tree($1::regclass) t"
                 " JOIN pg_class c ON c.oid = t.relid WHERE pg_get_userbyid(c.relowner) <> $2",
                 2, p2, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        buf_printf(out, "ALTER TABLE %s OWNER TO ", pg_get(r, i, 0));
        quote_ident(out, owner);
        buf_append(out, ";\n");
    }
    pg_result_free(r);
    return true;
}

bool conv_sequences_move(Conv *v, const char *from_oid, const char *to, Buf *out, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {from_oid};
    if (!pg_exec(v->c,
                 "SELECT s.oid::regclass::text, a.attname FROM pg_depend d"
                 " JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
                 " JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid"
                 " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
                 " AND d.refobjid = $1::oid AND d.deptype = 'a' ORDER BY 1",
                 1, params, &r, err))
        return false;
    for (int i = 0; i < pg_nrows(r); i++) {
        buf_printf(out, "ALTER SEQUENCE %s OWNED BY %s.", pg_get(r, i, 0), to);
        quote_ident(out, pg_get(r, i, 1));
        buf_append(out, ";\n");
    }
    pg_result_free(r);
    return true;
}

static bool identity_seq(Conv *v, const char *table, const char *col, IdentSeq *s, Err *err)
{
    PgResult *r = NULL;
    const char *params[] = {table, col};
    if (!pg_exec(v->c,
                 "SELECT s.oid::regclass::text, n.nspname, s.relname FROM pg_class s"
                 " JOIN pg_namespace n ON n.oid = s.relnamespace"
                 " WHERE s.oid = pg_catalog.pg_get_serial_sequence($1, $2)::regclass",
                 2, params, &r, err))
        return false;
    bool found = pg_nrows(r) > 0;
    if (found) {
        s->qname = arena_strdup(v->a, pg_get(r, 0, 0));
        s->schema = arena_strdup(v->a, pg_get(r, 0, 1));
        s->name = arena_strdup(v->a, pg_get(r, 0, 2));
    }
    pg_result_free(r);
    if (!found)
        return err_set(err, PM_EDB, "identity column \"%s\" of %s has no sequence", col, table);
    return true;
}

bool conv_identity_continue(Conv *v, const char *from, const char *to, const char *col, IdentSeq *from_seq,
                            IdentSeq *to_seq, Err *err)
{
    IdentSeq src, dst;
    PgResult *r = NULL;
    if (!identity_seq(v, from, col, &src, err) || !identity_seq(v, to, col, &dst, err))
        return false;
    /* the relation name is the server's own quoted text */
    if (!pg_exec(v->c, arena_printf(v->a, "SELECT last_value::text, is_called::text FROM %s", src.qname), 0, NULL, &r,
                 err))
        return false;
    const char *params[] = {dst.qname, arena_strdup(v->a, pg_get(r, 0, 0)), arena_strdup(v->a, pg_get(r, 0, 1))};
    pg_result_free(r);
    if (!pg_exec(v->c, "SELECT pg_catalog.setval($1::regclass, $2::bigint, $3::boolean)", 3, params, NULL, err))
        return false;
    if (from_seq)
        *from_seq = src;
    if (to_seq)
        *to_seq = dst;
    return true;
}
