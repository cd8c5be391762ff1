/* workload_text.c: the statement texts of the workload check -- which
 * statements name the table (found in their libpg_query parse tree, a
 * schema-qualified or an unqualified reference), the byte ranges a rewrite
 * replaces to point them at the shape table, and their text escaped for
 * printing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/quote.h"
#include "../common/sqlparse.h"
#include "../common/text.h"
#include "workload_internal.h"

/* ---- text ---- */

const char *workload_shown(Arena *a, const char *text, size_t max)
{
    Buf b = {0};
    const unsigned char *s = (const unsigned char *)text, *end = s + strlen(text);
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    while (s < end) {
        if (b.len >= max) {
            buf_printf(&b, "... (%zu bytes)", strlen(text));
            break;
        }
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
            while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
                s++;
            if (s < end)
                buf_putc(&b, ' ');
            continue;
        }
        size_t n = utf8_printable_len(s, (size_t)(end - s));
        if (n) {
            buf_appendn(&b, (const char *)s, n);
            s += n;
        } else
            buf_printf(&b, "\\x%02x", *s++);
    }
    const char *out = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return out;
}

/* ---- the statement's parse tree ---- */

static bool ident_start(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch >= 0x80;
}

/* The identifier at S (quoted or not; LEFT bytes): its length, its name
 * (unquoted ones folded to lower case, as the server does) in NAME; 0 when
 * none is there. */
static size_t scan_ident(const char *s, size_t left, Buf *name)
{
    buf_reset(name);
    size_t i = 0;
    if (left && s[0] == '"') {
        for (i = 1; i < left; i++) {
            if (s[i] == '"') {
                if (i + 1 < left && s[i + 1] == '"') {
                    buf_putc(name, '"');
                    i++;
                    continue;
                }
                return name->len ? i + 1 : 0;
            }
            buf_putc(name, s[i]);
        }
        return 0;
    }
    if (!left || !ident_start((unsigned char)s[0]))
        return 0;
    for (; i < left && (ident_start((unsigned char)s[i]) || (s[i] >= '0' && s[i] <= '9') || s[i] == '$'); i++)
        buf_putc(name, s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i]);
    return i;
}

static size_t skip_space(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f'))
        i++;
    return i;
}

/* The length of the (possibly qualified) relation name at AT in TEXT when
 * its last parts are SCHEMA (NULL: none given) and NAME; 0 otherwise. */
static size_t scan_relation(const char *text, size_t at, const char *schema, const char *name)
{
    size_t len = strlen(text), i = at, end = 0;
    Buf part = {0};
    const char *parts[3] = {NULL, NULL, NULL};
    int n = 0;
    Arena tmp = {0};
    while (n < 3) {
        size_t k = at < len ? scan_ident(text + i, len - i, &part) : 0;
        if (!k)
            break;
        parts[n++] = arena_strdup(&tmp, buf_str(&part));
        i += k;
        end = i;
        size_t j = skip_space(text, i, len);
        if (j >= len || text[j] != '.')
            break;
        i = skip_space(text, j + 1, len);
    }
    bool ok = n > 0 && !strcmp(parts[n - 1], name) && (schema ? n >= 2 && !strcmp(parts[n - 2], schema) : n == 1);
    buf_free(&part);
    arena_free(&tmp);
    return ok ? end - at : 0;
}

typedef struct Walk {
    const WorkloadTarget *t;
    Arena *a;
    Candidate *cd;
    int cap;
    bool own, cte_named, lost, odd_cast;
} Walk;

static void add_edit(Walk *w, size_t at, size_t len, const char *with, bool unqualified)
{
    Candidate *cd = w->cd;
    if (cd->nedits == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        cd->edits = arena_grow(w->a, cd->edits, (size_t)cd->nedits, (size_t)w->cap, sizeof *cd->edits);
    }
    int i = cd->nedits++;
    while (i > 0 && cd->edits[i - 1].at > at) {
        cd->edits[i] = cd->edits[i - 1];
        i--;
    }
    cd->edits[i] = (Edit){at, len, with, unqualified};
}

static void range_var(Walk *w, json_t *rv)
{
    const WorkloadTarget *t = w->t;
    const char *schema = json_string_value(json_object_get(rv, "schemaname"));
    const char *name = json_string_value(json_object_get(rv, "relname"));
    if (!name)
        return;
    /* partmig's own statements: its ledger, the conversion's tables */
    if ((schema && !strcmp(schema, "partmig")) || strstr(name, "_partmig_new") || strstr(name, "_partmig_old"))
        w->own = true;
    if (strcmp(name, t->table) || (schema && strcmp(schema, t->schema)))
        return;
    json_int_t loc = json_integer_value(json_object_get(rv, "location"));
    size_t len = loc >= 0 ? scan_relation(w->cd->text, (size_t)loc, schema, name) : 0;
    if (!len) {
        w->lost = true;
        return;
    }
    Buf b = {0};
    quote_qualified(&b, "pg_temp", t->table);
    add_edit(w, (size_t)loc, len, arena_strdup(w->a, buf_str(&b)), !schema);
    buf_free(&b);
    if (schema)
        w->cd->qualified = true;
    else
        w->cd->unqualified = true;
}

/* pg_stat_statements writes a typed literal (interval '1 day') as
 * "interval $4", which only libpg_query's grammar takes: the server gets
 * CAST($4 AS interval).  Such a cast has no location of its own (-1) and
 * its type name comes before the parameter. */
static void typed_parameter(Walk *w, json_t *cast)
{
    json_t *param = json_object_get(json_object_get(cast, "arg"), "ParamRef");
    json_int_t loc = json_integer_value(json_object_get(cast, "location"));
    json_int_t at = json_integer_value(json_object_get(json_object_get(cast, "typeName"), "location"));
    json_int_t pl = json_integer_value(json_object_get(param, "location"));
    size_t len = strlen(w->cd->text);
    if (!param || loc != -1 || at < 0 || pl <= at || (size_t)pl >= len || w->cd->text[pl] != '$')
        return;
    size_t end = (size_t)pl + 1;
    while (end < len && w->cd->text[end] >= '0' && w->cd->text[end] <= '9')
        end++;
    size_t type_end = (size_t)pl;
    while (type_end > (size_t)at && strchr(" \t\r\n", w->cd->text[type_end - 1]))
        type_end--;
    /* a comment between the type name and the parameter would swallow the
     * CAST's ")" (a "--" one: the rest of its line too) */
    for (size_t i = (size_t)at; i + 1 < type_end; i++)
        if ((w->cd->text[i] == '-' && w->cd->text[i + 1] == '-') ||
            (w->cd->text[i] == '/' && w->cd->text[i + 1] == '*')) {
            w->odd_cast = true;
            return;
        }
    add_edit(w, (size_t)at, end - (size_t)at,
             arena_printf(w->a, "CAST(%.*s AS %.*s)", (int)(end - (size_t)pl), w->cd->text + pl,
                          (int)(type_end - (size_t)at), w->cd->text + at),
             false);
}

static void walk(Walk *w, json_t *node)
{
    if (json_is_object(node)) {
        /* a RangeVar: {"RangeVar": {...}} where a field holds any node, the
         * bare body where it holds a RangeVar (UpdateStmt.relation) */
        if (json_is_string(json_object_get(node, "relname")) && json_object_get(node, "relpersistence")) {
            range_var(w, node);
            return;
        }
        const char *key;
        json_t *v;
        json_object_foreach(node, key, v)
        {
            if (!strcmp(key, "CommonTableExpr")) {
                const char *cte = json_string_value(json_object_get(v, "ctename"));
                w->cte_named |= cte && !strcmp(cte, w->t->table);
            } else if (!strcmp(key, "TypeCast"))
                typed_parameter(w, v);
            walk(w, v);
        }
    } else if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v)
        {
            walk(w, v);
        }
    }
}

static const char *node_kind(json_t *node)
{
    void *it = json_object_iter(node);
    return it ? json_object_iter_key(it) : "";
}

bool workload_parse(const WorkloadTarget *t, Arena *a, Candidate *cd)
{
    SqlScript *script = NULL;
    Err perr;
    if (!sql_script_parse(cd->text, "pg_stat_statements", 1, &script, &perr)) {
        /* the name is in the text (the query's filter): say it was not read */
        cd->qualified = true;
        cd->reason = "partmig's SQL parser (libpg_query) cannot read it";
        return true;
    }
    bool touches = false;
    if (sql_script_count(script) != 1) {
        cd->qualified = true;
        cd->reason = "not one statement";
        touches = true;
        goto done;
    }
    const SqlStatement *st = sql_script_get(script, 0);
    cd->start = st->offset;
    Walk w = {.t = t, .a = a, .cd = cd};
    walk(&w, st->tree);
    if (w.own || !strncmp(cd->text + strspn(cd->text, " \t\r\n"), PG_QUERY_MARK, strlen(PG_QUERY_MARK)) ||
        (!cd->qualified && !cd->unqualified && !w.lost))
        goto done;
    touches = true;
    json_t *body = st->tree;
    const char *kind = node_kind(body);
    if (!strcmp(kind, "PrepareStmt")) {
        /* PREPARE name [(types)] AS ...: ours takes the name, keeps the types */
        cd->prepare = true;
        kind = node_kind(json_object_get(json_object_get(body, "PrepareStmt"), "query"));
        size_t len = strlen(cd->text), i = skip_space(cd->text, cd->start + 7, len);
        Buf name = {0};
        size_t n = strncasecmp(cd->text + cd->start, "prepare", 7) ? 0 : scan_ident(cd->text + i, len - i, &name);
        buf_free(&name);
        if (!n || i == cd->start + 7) {
            cd->reason = "the name of its PREPARE cannot be found in its text";
            goto done;
        }
        add_edit(&w, i, n, STATEMENT_NAME, false);
    }
    if (strcmp(kind, "SelectStmt") && strcmp(kind, "InsertStmt") && strcmp(kind, "UpdateStmt") &&
        strcmp(kind, "DeleteStmt"))
        cd->reason = "not a SELECT, INSERT, UPDATE or DELETE";
    else if (w.lost)
        cd->reason = "a reference to the table cannot be found in its text";
    else if (w.odd_cast)
        cd->reason = "a typed literal holds a comment";
    else if (w.cte_named && cd->unqualified)
        cd->reason = "a WITH query has the table's name";
done:
    sql_script_free(script);
    return touches;
}

const char *workload_rewrite(Arena *a, const Candidate *cd)
{
    Buf b = {0};
    if (!cd->prepare)
        buf_append(&b, "PREPARE " STATEMENT_NAME " AS ");
    size_t at = cd->start;
    for (int i = 0; i < cd->nedits; i++) {
        const Edit *e = &cd->edits[i];
        /* an unqualified name the role resolves elsewhere is not the table */
        if ((e->unqualified && !cd->unqualified) || e->at < at)
            continue;
        buf_appendn(&b, cd->text + at, e->at - at);
        buf_append(&b, e->with);
        at = e->at + e->len;
    }
    buf_append(&b, cd->text + at);
    const char *s = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return s;
}

bool workload_one_statement(const char *sql)
{
    SqlScript *script = NULL;
    Err perr;
    if (!sql_script_parse(sql, "workload", 1, &script, &perr))
        return false;
    bool one = sql_script_count(script) == 1 && !strcmp(node_kind(sql_script_get(script, 0)->tree), "PrepareStmt");
    sql_script_free(script);
    return one;
}
