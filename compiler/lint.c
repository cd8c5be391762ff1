/* lint.c: `partmig lint` -- flags risky statements in migration files (partmig's
 * own, read with plan_read, or any .sql), by walking libpg_query parse trees. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../commands.h"
#include "../common/log.h"
#include "common/arena.h"
#include "common/err.h"
#include "common/fs.h"
#include "model/plan.h"
#include "../common/sqlparse.h"

/* The rules, in the order --help lists them. */
typedef struct Rule {
    const char *name;
    const char *what; /* one line for --help */
} Rule;

static const Rule rules[] = {
    {"missing-lock-timeout", "DDL on an existing table with no SET lock_timeout before it"},
    {"index-not-concurrent", "CREATE INDEX without CONCURRENTLY on a table not created in the file"},
    {"concurrent-index-on-partitioned", "CREATE INDEX CONCURRENTLY on a partitioned table (PostgreSQL rejects it)"},
    {"concurrently-in-transaction", "a CONCURRENTLY statement inside a transaction, transactional step or DO"},
    {"drop-without-guard", "DROP TABLE of data with no archive copy or emptiness guard"},
    {"truncate-without-guard", "TRUNCATE of data with no archive copy or emptiness guard"},
    {"delete-without-where", "DELETE without WHERE with no archive copy or guard"},
    {"detach-not-concurrent", "ALTER TABLE ... DETACH PARTITION without CONCURRENTLY"},
    {"constraint-not-valid", "ADD CONSTRAINT (FOREIGN KEY or CHECK) without NOT VALID on an existing table"},
    {"set-not-null", "ALTER COLUMN ... SET NOT NULL on an existing table (full scan under ACCESS EXCLUSIVE)"},
    {"column-type-rewrite", "ALTER COLUMN ... SET DATA TYPE on an existing table (rewrite)"},
    {"vacuum-full", "VACUUM FULL (rewrite under ACCESS EXCLUSIVE)"},
    {"cluster", "CLUSTER (rewrite under ACCESS EXCLUSIVE)"},
};

/* A table name as the parser gives it; SCHEMA is NULL when unqualified. */
typedef struct TableName {
    const char *schema, *name;
} TableName;

typedef struct NameSet {
    TableName *items;
    int n, cap;
} NameSet;

/* Where a statement sits. */
typedef struct Ctx {
    bool transactional; /* runs inside a transaction (step, BEGIN block or DO) */
    bool in_do;         /* inside a DO block */
    bool in_undo;       /* inside a step's undo block: may drop, changes no state */
    bool guarded;       /* behind an emptiness check in a DO block */
} Ctx;

/* One file's lint: the session state the statements build up, in order. */
typedef struct Lint {
    Arena *arena;          /* names and line tables; freed by the caller */
    const char *path;      /* the file, for messages */
    const char *text;      /* its contents */
    int findings;          /* reported in this file */
    int statements;        /* checked in this file */
    bool lock_timeout;     /* a non-zero session lock_timeout is in effect */
    bool local_timeout;    /* ... or a SET LOCAL one, until the transaction ends */
    bool timeout_reported; /* missing-lock-timeout said once until the next SET */
    bool in_transaction;   /* explicit BEGIN seen, no COMMIT/ROLLBACK yet */
    NameSet created;       /* tables created in this file (new, hence empty) */
    NameSet partitioned;   /* tables known to be partitioned */
    NameSet archived;      /* tables whose rows were copied elsewhere in this file */
} Lint;

/* Known-partitioned tables carried from file to file of one directory (in
 * name order, as they are applied): a table partitioned by 0001 still is in
 * 0002.  Nothing else carries: a table created by 0001 may hold data by 0002. */
typedef struct Carry {
    Arena arena;
    NameSet partitioned;
} Carry;

/* ---- small helpers over the JSON parse tree ---- */

static json_t *get(json_t *obj, const char *key)
{
    return json_object_get(obj, key);
}

static const char *get_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static bool get_bool(json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

/* The only key of a node such as {"IndexStmt":{...}}, and its value. */
static const char *node_kind(json_t *node, json_t **value)
{
    const char *key;
    json_t *v;
    json_object_foreach(node, key, v)
    {
        if (value)
            *value = v;
        return key;
    }
    if (value)
        *value = NULL;
    return "";
}

static TableName range_var(json_t *rv)
{
    TableName t = {get_str(rv, "schemaname"), get_str(rv, "relname")};
    return t;
}

/* A name list of DROP (["schema","table"] or ["table"]) as a table name. */
static TableName name_list(json_t *list)
{
    TableName t = {NULL, NULL};
    json_t *items = get(get(list, "List"), "items");
    size_t n = json_array_size(items);
    if (n >= 1)
        t.name = get_str(get(json_array_get(items, n - 1), "String"), "sval");
    if (n >= 2)
        t.schema = get_str(get(json_array_get(items, n - 2), "String"), "sval");
    return t;
}

static const char *table_display(Lint *l, TableName t)
{
    return t.schema ? arena_printf(l->arena, "%s.%s", t.schema, t.name) : arena_strdup(l->arena, t.name);
}

static bool same_table(TableName a, TableName b)
{
    if (!a.name || !b.name || strcmp(a.name, b.name))
        return false;
    /* an unqualified name matches any schema: partmig files are all qualified */
    return !a.schema || !b.schema || !strcmp(a.schema, b.schema);
}

static bool set_has(const NameSet *s, TableName t)
{
    for (int i = 0; i < s->n; i++)
        if (same_table(s->items[i], t))
            return true;
    return false;
}

/* Add T to S, copying the names into ARENA. */
static void set_add_in(Arena *arena, NameSet *s, TableName t)
{
    if (!t.name || set_has(s, t))
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->items = arena_grow(arena, s->items, (size_t)s->n, (size_t)s->cap, sizeof *s->items);
    }
    s->items[s->n].schema = t.schema ? arena_strdup(arena, t.schema) : NULL;
    s->items[s->n].name = arena_strdup(arena, t.name);
    s->n++;
}

static void set_add(Lint *l, NameSet *s, TableName t)
{
    set_add_in(l->arena, s, t);
}

/* "schema.table" of a partmig step line. */
static TableName step_table(Lint *l, const char *qualified)
{
    TableName t = {NULL, qualified};
    const char *dot = qualified ? strchr(qualified, '.') : NULL;
    if (dot) {
        t.schema = arena_strndup(l->arena, qualified, (size_t)(dot - qualified));
        t.name = dot + 1;
    }
    return t;
}

/* Every RangeVar anywhere under NODE goes into SET (the sources of a copy). */
static void collect_range_vars(Lint *l, json_t *node, NameSet *set)
{
    if (json_is_object(node)) {
        const char *key;
        json_t *v;
        json_object_foreach(node, key, v)
        {
            if (!strcmp(key, "RangeVar"))
                set_add(l, set, range_var(v));
            else
                collect_range_vars(l, v, set);
        }
    } else if (json_is_array(node)) {
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v)
        {
            collect_range_vars(l, v, set);
        }
    }
}

/* ---- findings ---- */

/* squawk's rules (https://squawkhq.com/docs/rules) and the rule of partmig
 * that flags the same thing: a statement squawk is told to ignore for one
 * is not reported for the other. */
static const struct {
    const char *squawk, *partmig;
} squawk_rules[] = {
    {"require-timeout-settings", "missing-lock-timeout"},
    {"require-lock-timeout", "missing-lock-timeout"},
    {"require-concurrent-index-creation", "index-not-concurrent"},
    {"ban-concurrent-index-creation-in-transaction", "concurrently-in-transaction"},
    {"ban-drop-table", "drop-without-guard"},
    {"require-concurrent-partition-detach", "detach-not-concurrent"},
    {"constraint-missing-not-valid", "constraint-not-valid"},
    {"adding-foreign-key-constraint", "constraint-not-valid"},
    {"adding-not-nullable-field", "set-not-null"},
    {"changing-column-type", "column-type-rewrite"},
    {"prefer-repack", "vacuum-full"},
    {"prefer-repack", "cluster"},
};

/* Does the rule list of a squawk ignore comment (LIST: after
 * "squawk-ignore" or "squawk-ignore-file", up to the end of the line) cover
 * partmig's RULE?  An empty list covers every rule when EMPTY_IS_ALL (a
 * file-level ignore; squawk ignores nothing for an empty line-level one);
 * text after a second "--" is the reason, not a rule. */
static bool squawk_list_covers(const char *list, size_t n, const char *rule, bool empty_is_all)
{
    const char *end = list + n;
    for (const char *c = list; c + 1 < end; c++)
        if (c[0] == '-' && c[1] == '-' && (c == list || c[-1] == ' ')) {
            end = c;
            break;
        }
    const char *p = list;
    bool any = false;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ',' || *p == '\t'))
            p++;
        const char *w = p;
        while (p < end && *p != ' ' && *p != ',' && *p != '\t' && *p != '*')
            p++;
        if (p == w) {
            if (p < end)
                p++; /* the end of a C-style comment */
            continue;
        }
        any = true;
        for (size_t i = 0; i < sizeof squawk_rules / sizeof *squawk_rules; i++)
            if (strlen(squawk_rules[i].squawk) == (size_t)(p - w) &&
                !strncmp(squawk_rules[i].squawk, w, (size_t)(p - w)) && !strcmp(squawk_rules[i].partmig, rule))
                return true;
    }
    return !any && empty_is_all;
}

/* The rule list after squawk's ignore word WORD in the comment line S (N
 * bytes), or NULL: "-- squawk-ignore r1, r2 -- reason" or the same in a
 * C-style comment, the word followed by a blank or the end. */
static const char *squawk_directive(const char *s, size_t n, const char *word, size_t *list_len)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i + 2 > n || !((s[i] == '-' && s[i + 1] == '-') || (s[i] == '/' && s[i + 1] == '*')))
        return NULL;
    i += 2;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    size_t wl = strlen(word);
    if (i + wl > n || strncmp(s + i, word, wl) != 0 || (i + wl < n && s[i + wl] != ' ' && s[i + wl] != '\t'))
        return NULL;
    *list_len = n - i - wl;
    return s + i + wl;
}

/* A "-- squawk-ignore-file [RULES]" line anywhere in the file covering RULE. */
static bool squawk_file_ignores(const Lint *l, const char *rule)
{
    for (const char *p = l->text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p), ll;
        const char *list = squawk_directive(p, n, "squawk-ignore-file", &ll);
        if (list && squawk_list_covers(list, ll, rule, true))
            return true;
        p += n + (nl ? 1 : 0);
    }
    return false;
}

/* Does a comment line directly above LINE (or LINE itself) say
 * "partmig-lint: allow RULE", or "squawk-ignore" naming squawk's rule for
 * the same thing?  Lets a reviewed exception stay in the
 * file, one comment for both linters. */
static bool allowed(const Lint *l, int line, const char *rule)
{
    if (squawk_file_ignores(l, rule))
        return true;
    const char *p = l->text;
    const char *lines_start[2] = {NULL, NULL};
    for (int n = 1; *p && n <= line; n++) {
        lines_start[0] = lines_start[1];
        lines_start[1] = p;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : p + strlen(p);
    }
    for (int i = 0; i < 2; i++) {
        const char *s = lines_start[i];
        if (!s)
            continue;
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", (int)(n < sizeof buf - 1 ? n : sizeof buf - 1), s);
        size_t ll;
        const char *list = squawk_directive(buf, strlen(buf), "squawk-ignore", &ll);
        if (list && squawk_list_covers(list, ll, rule, false))
            return true;
        const char *mark = strstr(buf, "partmig-lint: allow ");
        if (mark) {
            const char *list = mark + strlen("partmig-lint: allow ");
            size_t rn = strlen(rule);
            for (const char *r = strstr(list, rule); r; r = strstr(r + 1, rule))
                if ((r == list || r[-1] == ' ' || r[-1] == ',') && (r[rn] == '\0' || strchr(" ,", r[rn])))
                    return true;
        }
    }
    return false;
}

static void report(Lint *l, int line, const char *rule, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void report(Lint *l, int line, const char *rule, const char *hint, const char *fmt, ...)
{
    va_list ap;
    if (allowed(l, line, rule))
        return;
    printf("%s:%d: %s: ", l->path, line, rule);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\nhint: %s\n", hint);
    l->findings++;
}

/* ---- the rules ---- */

static bool existing(Lint *l, TableName t)
{
    return !set_has(&l->created, t);
}

static void need_lock_timeout(Lint *l, int line, const char *what, Ctx ctx)
{
    if (l->lock_timeout || l->local_timeout || l->timeout_reported || ctx.in_undo)
        return;
    report(l, line, "missing-lock-timeout",
           "put a short SET lock_timeout (partmig uses '500ms') at the top of the file, so a blocked lock does not "
           "queue every "
           "query behind it; retry on SQLSTATE 55P03",
           "%s with no lock_timeout set before it", what);
    l->timeout_reported = true;
}

/* Does this SET give lock_timeout a non-zero value?  0 in any unit, DEFAULT
 * and RESET switch it off. */
static bool timeout_is_set(json_t *set_stmt)
{
    const char *kind = get_str(set_stmt, "kind");
    if (!kind || strcmp(kind, "VAR_SET_VALUE"))
        return false;
    json_t *c = get(json_array_get(get(set_stmt, "args"), 0), "A_Const");
    if (get(c, "ival"))
        return json_integer_value(get(get(c, "ival"), "ival")) != 0;
    const char *s = get_str(get(c, "sval"), "sval");
    if (!s)
        s = get_str(get(c, "fval"), "fval");
    return s && strtod(s, NULL) != 0;
}

static void lint_set(Lint *l, json_t *v, Ctx ctx)
{
    const char *name = get_str(v, "name");
    const char *kind = get_str(v, "kind");
    bool reset_all = kind && !strcmp(kind, "VAR_RESET_ALL");
    if (ctx.in_undo || (!reset_all && (!name || strcmp(name, "lock_timeout"))))
        return;
    bool on = timeout_is_set(v);
    if (get_bool(v, "is_local") && (ctx.transactional || l->in_transaction))
        l->local_timeout = on;
    else
        l->lock_timeout = on;
    if (on)
        l->timeout_reported = false;
}

static void lint_index(Lint *l, const SqlStatement *st, json_t *v, Ctx ctx)
{
    TableName t = range_var(get(v, "relation"));
    bool concurrent = get_bool(v, "concurrent");
    bool only = !get_bool(get(v, "relation"), "inh");
    const char *name = table_display(l, t);

    if (existing(l, t))
        need_lock_timeout(l, st->line, "CREATE INDEX", ctx);
    if (concurrent && set_has(&l->partitioned, t))
        report(l, st->line, "concurrent-index-on-partitioned",
               "create the parent index with CREATE INDEX ... ON ONLY (no CONCURRENTLY), build each partition's "
               "index CONCURRENTLY, then ALTER INDEX ... ATTACH PARTITION",
               "CREATE INDEX CONCURRENTLY on partitioned table \"%s\" fails in PostgreSQL", name);
    if (concurrent && ctx.transactional)
        report(l, st->line, "concurrently-in-transaction",
               "run it on its own, outside BEGIN/COMMIT and DO blocks (a partmig step with transactional=no)",
               "CREATE INDEX CONCURRENTLY cannot run inside a transaction block");
    if (!concurrent && !only && existing(l, t))
        report(l, st->line, "index-not-concurrent",
               "use CREATE INDEX CONCURRENTLY outside a transaction; on a partitioned table use ON ONLY the parent, "
               "then build each partition's index CONCURRENTLY and ATTACH it",
               "CREATE INDEX on existing table \"%s\" blocks writes while the index builds", name);
}

static void lint_alter_table(Lint *l, const SqlStatement *st, json_t *v, Ctx ctx)
{
    TableName t = range_var(get(v, "relation"));
    const char *objtype = get_str(v, "objtype");
    const char *name = table_display(l, t);
    bool old = existing(l, t);
    size_t i;
    json_t *item;

    if (old)
        need_lock_timeout(l, st->line, "ALTER TABLE", ctx);
    if (objtype && strcmp(objtype, "OBJECT_TABLE"))
        return; /* ALTER INDEX/SEQUENCE/VIEW ... */
    json_array_foreach(get(v, "cmds"), i, item)
    {
        json_t *cmd = get(item, "AlterTableCmd");
        const char *sub = get_str(cmd, "subtype");
        json_t *def = get(cmd, "def");
        if (!sub)
            continue;
        if (!strcmp(sub, "AT_DetachPartition")) {
            bool concurrent = get_bool(get(def, "PartitionCmd"), "concurrent");
            if (concurrent && ctx.transactional)
                report(l, st->line, "concurrently-in-transaction",
                       "run DETACH PARTITION ... CONCURRENTLY on its own, outside a transaction",
                       "DETACH PARTITION CONCURRENTLY cannot run inside a transaction block");
            if (!concurrent && old)
                report(l, st->line, "detach-not-concurrent",
                       "use ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY outside a transaction (not possible "
                       "while the table has a DEFAULT partition)",
                       "DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on \"%s\"", name);
        } else if (!strcmp(sub, "AT_AddConstraint") && old) {
            json_t *con = get(def, "Constraint");
            const char *type = get_str(con, "contype");
            bool fk = type && !strcmp(type, "CONSTR_FOREIGN");
            bool check = type && !strcmp(type, "CONSTR_CHECK");
            if ((fk || check) && !get_bool(con, "skip_validation"))
                report(l, st->line, "constraint-not-valid",
                       fk && set_has(&l->partitioned, t)
                           ? "a partitioned table takes no NOT VALID foreign key: add it NOT VALID to each "
                             "partition, VALIDATE CONSTRAINT each, then add it to the parent"
                           : "add it NOT VALID (a short lock), then ALTER TABLE ... VALIDATE CONSTRAINT in a later "
                             "statement (does not block writes)",
                       "ADD CONSTRAINT %s on existing table \"%s\" scans it while blocking writes",
                       fk ? "FOREIGN KEY" : "CHECK", name);
        } else if (!strcmp(sub, "AT_SetNotNull") && old) {
            report(l, st->line, "set-not-null",
                   "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL (it uses the "
                   "validated constraint and skips the scan), then drop the CHECK",
                   "SET NOT NULL on existing table \"%s\" scans it under ACCESS EXCLUSIVE", name);
        } else if (!strcmp(sub, "AT_AlterColumnType") && old) {
            report(l, st->line, "column-type-rewrite",
                   "add a new column, backfill it in batches, then swap names in a short transaction (or make sure "
                   "the change is binary-compatible, e.g. widening varchar, and mark it partmig-lint: allow)",
                   "ALTER COLUMN \"%s\" SET DATA TYPE rewrites \"%s\" under ACCESS EXCLUSIVE",
                   get_str(cmd, "name") ? get_str(cmd, "name") : "?", name);
        }
    }
}

static const char *const destroy_hint = "copy the rows to an archive first (CREATE TABLE archive AS / INSERT INTO ... "
                                        "SELECT in this file), or guard it in a DO block that first locks the table "
                                        "(LOCK TABLE t IN ACCESS EXCLUSIVE MODE, so no uncommitted insert slips "
                                        "past the check), then checks it is empty (IF EXISTS (SELECT 1 FROM t) THEN "
                                        "RAISE EXCEPTION ...), or put it in a step's undo block";

/* Destroying rows of T: fine when T is new, archived, guarded or an undo. */
static bool may_destroy(Lint *l, TableName t, Ctx ctx)
{
    return ctx.in_undo || ctx.guarded || !existing(l, t) || set_has(&l->archived, t);
}

static void lint_drop(Lint *l, const SqlStatement *st, json_t *v, Ctx ctx)
{
    const char *type = get_str(v, "removeType");
    size_t i;
    json_t *obj;
    if (!type)
        return;
    if (!strcmp(type, "OBJECT_INDEX")) {
        need_lock_timeout(l, st->line, "DROP INDEX", ctx);
        if (get_bool(v, "concurrent") && ctx.transactional)
            report(l, st->line, "concurrently-in-transaction",
                   "run DROP INDEX CONCURRENTLY on its own, outside a transaction",
                   "DROP INDEX CONCURRENTLY cannot run inside a transaction block");
        return;
    }
    if (strcmp(type, "OBJECT_TABLE"))
        return;
    json_array_foreach(get(v, "objects"), i, obj)
    {
        TableName t = name_list(obj);
        if (existing(l, t))
            need_lock_timeout(l, st->line, "DROP TABLE", ctx);
        if (!may_destroy(l, t, ctx))
            report(l, st->line, "drop-without-guard", destroy_hint, "DROP TABLE \"%s\" destroys its rows unchecked",
                   table_display(l, t));
    }
}

static void lint_truncate(Lint *l, const SqlStatement *st, json_t *v, Ctx ctx)
{
    size_t i;
    json_t *rel;
    json_array_foreach(get(v, "relations"), i, rel)
    {
        TableName t = range_var(get(rel, "RangeVar"));
        if (existing(l, t))
            need_lock_timeout(l, st->line, "TRUNCATE", ctx);
        if (!may_destroy(l, t, ctx))
            report(l, st->line, "truncate-without-guard", destroy_hint, "TRUNCATE \"%s\" destroys its rows unchecked",
                   table_display(l, t));
    }
}

static void lint_delete(Lint *l, const SqlStatement *st, json_t *v, Ctx ctx)
{
    TableName t = range_var(get(v, "relation"));
    if (get(v, "whereClause") || may_destroy(l, t, ctx))
        return;
    report(l, st->line, "delete-without-where", destroy_hint, "DELETE without WHERE empties \"%s\" unchecked",
           table_display(l, t));
}

static void lint_create(Lint *l, const SqlStatement *st, json_t *v, Ctx ctx)
{
    TableName t = range_var(get(v, "relation"));
    json_t *parents = get(v, "inhRelations");
    size_t i;
    json_t *p;
    bool locks_existing = false;
    json_array_foreach(parents, i, p)
    {
        if (existing(l, range_var(get(p, "RangeVar"))))
            locks_existing = true; /* PARTITION OF / INHERITS lock the parent */
    }
    if (locks_existing)
        need_lock_timeout(l, st->line, "CREATE TABLE ... PARTITION OF", ctx);
    if (ctx.in_undo)
        return;
    set_add(l, &l->created, t);
    if (get(v, "partspec"))
        set_add(l, &l->partitioned, t);
}

static void lint_transaction(Lint *l, json_t *v, Ctx ctx)
{
    const char *kind = get_str(v, "kind");
    if (!kind || ctx.in_undo)
        return;
    if (!strcmp(kind, "TRANS_STMT_BEGIN") || !strcmp(kind, "TRANS_STMT_START")) {
        l->in_transaction = true;
    } else if (!strcmp(kind, "TRANS_STMT_COMMIT") || !strcmp(kind, "TRANS_STMT_ROLLBACK") ||
               !strcmp(kind, "TRANS_STMT_PREPARE") || !strcmp(kind, "TRANS_STMT_COMMIT_PREPARED")) {
        l->in_transaction = false;
        l->local_timeout = false;
    }
}

static bool lint_statement(Lint *l, const SqlStatement *st, Ctx ctx);

/* ---- DO blocks ---- */

static bool mentions_exists(const char *cond)
{
    return cond && strcasestr(cond, "exists") != NULL;
}

/* Does the statement list raise an ERROR (RAISE EXCEPTION)? */
static bool raises_error(json_t *list)
{
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        json_t *raise = get(item, "PLpgSQL_stmt_raise");
        /* elog_level 21 is ERROR; absent is the default level, EXCEPTION */
        if (raise && (!get(raise, "elog_level") || json_integer_value(get(raise, "elog_level")) >= 21))
            return true;
    }
    return false;
}

static bool lint_plpgsql_list(Lint *l, json_t *list, int body_line, Ctx ctx);

/* Every statement list below a PL/pgSQL statement node (IF branches, loop
 * bodies, nested blocks, CASE arms). */
static bool lint_plpgsql_children(Lint *l, json_t *node, int body_line, Ctx ctx)
{
    bool ok = true;
    const char *key;
    json_t *v;
    json_object_foreach(node, key, v)
    {
        if (!json_is_array(v))
            continue;
        if (!strcmp(key, "elsif_list") || !strcmp(key, "case_when_list")) {
            size_t i;
            json_t *arm;
            json_array_foreach(v, i, arm)
            {
                json_t *inner;
                node_kind(arm, &inner);
                ok = lint_plpgsql_list(l, get(inner, "stmts"), body_line, ctx) && ok;
            }
        } else {
            ok = lint_plpgsql_list(l, v, body_line, ctx) && ok;
        }
    }
    return ok;
}

static bool lint_plpgsql_list(Lint *l, json_t *list, int body_line, Ctx ctx)
{
    bool ok = true;
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        json_t *v;
        const char *kind = node_kind(item, &v);
        if (strncmp(kind, "PLpgSQL_stmt_", 13))
            continue;
        int line = body_line + (int)json_integer_value(get(v, "lineno")) - (get(v, "lineno") ? 1 : 0);
        if (!strcmp(kind, "PLpgSQL_stmt_execsql")) {
            const char *query = get_str(get(get(v, "sqlstmt"), "PLpgSQL_expr"), "query");
            SqlScript *script = NULL;
            Err err;
            err_clear(&err);
            if (!query)
                continue;
            if (!sql_script_parse(query, l->path, line, &script, &err)) {
                err_print(&err);
                ok = false;
                continue;
            }
            for (int s = 0; s < sql_script_count(script); s++) {
                SqlStatement inner = *sql_script_get(script, s);
                inner.line = line; /* the PL/pgSQL statement's line */
                ok = lint_statement(l, &inner, ctx) && ok;
            }
            sql_script_free(script);
        } else if (!strcmp(kind, "PLpgSQL_stmt_if")) {
            const char *cond = get_str(get(get(v, "cond"), "PLpgSQL_expr"), "query");
            Ctx inner = ctx;
            inner.guarded = ctx.guarded || mentions_exists(cond);
            ok = lint_plpgsql_children(l, v, body_line, inner) && ok;
            /* IF EXISTS (rows) THEN RAISE EXCEPTION: what follows is guarded */
            if (mentions_exists(cond) && raises_error(get(v, "then_body")))
                ctx.guarded = true;
        } else {
            ok = lint_plpgsql_children(l, v, body_line, ctx) && ok;
        }
    }
    return ok;
}

static bool lint_do(Lint *l, const SqlStatement *st, Ctx ctx)
{
    if (!st->plpgsql)
        return true; /* another language: nothing to look into */
    Ctx inner = ctx;
    inner.in_do = true;
    inner.transactional = true; /* a DO block always runs in one transaction */
    json_t *block = get(get(st->plpgsql, "action"), "PLpgSQL_stmt_block");
    return lint_plpgsql_children(l, block, st->body_line, inner);
}

/* ---- one statement ---- */

static bool lint_statement(Lint *l, const SqlStatement *st, Ctx ctx)
{
    json_t *v;
    const char *kind = node_kind(st->tree, &v);
    if (l->in_transaction)
        ctx.transactional = true;
    l->statements++;

    if (!strcmp(kind, "VariableSetStmt")) {
        lint_set(l, v, ctx);
    } else if (!strcmp(kind, "SelectStmt")) {
        /* SELECT set_config('lock_timeout', '5s', false) */
        if (strcasestr(st->text, "set_config") && strcasestr(st->text, "'lock_timeout'") && !ctx.in_undo) {
            l->lock_timeout = true;
            l->timeout_reported = false;
        }
    } else if (!strcmp(kind, "TransactionStmt")) {
        lint_transaction(l, v, ctx);
    } else if (!strcmp(kind, "CreateStmt")) {
        lint_create(l, st, v, ctx);
    } else if (!strcmp(kind, "CreateTableAsStmt")) {
        if (!ctx.in_undo) {
            set_add(l, &l->created, range_var(get(get(v, "into"), "rel")));
            collect_range_vars(l, get(v, "query"), &l->archived);
        }
    } else if (!strcmp(kind, "InsertStmt")) {
        if (!ctx.in_undo)
            collect_range_vars(l, get(v, "selectStmt"), &l->archived);
    } else if (!strcmp(kind, "CopyStmt")) {
        if (!get_bool(v, "is_from") && !ctx.in_undo) {
            set_add(l, &l->archived, range_var(get(v, "relation")));
            collect_range_vars(l, get(v, "query"), &l->archived);
        }
    } else if (!strcmp(kind, "IndexStmt")) {
        lint_index(l, st, v, ctx);
    } else if (!strcmp(kind, "AlterTableStmt")) {
        lint_alter_table(l, st, v, ctx);
    } else if (!strcmp(kind, "DropStmt")) {
        lint_drop(l, st, v, ctx);
    } else if (!strcmp(kind, "TruncateStmt")) {
        lint_truncate(l, st, v, ctx);
    } else if (!strcmp(kind, "DeleteStmt")) {
        lint_delete(l, st, v, ctx);
    } else if (!strcmp(kind, "DoStmt")) {
        return lint_do(l, st, ctx);
    } else if (!strcmp(kind, "VacuumStmt")) {
        size_t i;
        json_t *opt;
        json_array_foreach(get(v, "options"), i, opt)
        {
            json_t *def = get(opt, "DefElem");
            const char *name = get_str(def, "defname");
            json_t *arg = get(def, "arg");
            bool off = arg && (get(arg, "Boolean") ? !get_bool(get(arg, "Boolean"), "boolval")
                                                   : get_str(get(arg, "String"), "sval") &&
                                                         !strcasecmp(get_str(get(arg, "String"), "sval"), "false"));
            if (name && !strcmp(name, "full") && !off) {
                need_lock_timeout(l, st->line, "VACUUM FULL", ctx);
                report(l, st->line, "vacuum-full",
                       "use pg_repack or pg_squeeze to reclaim space online, or plain VACUUM",
                       "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE, blocking reads and writes");
            }
        }
    } else if (!strcmp(kind, "ClusterStmt")) {
        need_lock_timeout(l, st->line, "CLUSTER", ctx);
        report(l, st->line, "cluster", "use pg_repack --order-by to reorder online",
               "CLUSTER rewrites the table under ACCESS EXCLUSIVE, blocking reads and writes");
    } else if (!strcmp(kind, "RenameStmt") || !strcmp(kind, "AlterObjectSchemaStmt") ||
               !strcmp(kind, "CreateTrigStmt") || !strcmp(kind, "RuleStmt") || !strcmp(kind, "ReindexStmt")) {
        need_lock_timeout(l, st->line, kind, ctx);
    }
    return true;
}

/* Parse SQL that starts at LINE of the file and lint its statements.  A
 * parse error is printed and makes the file "unparsable" (false). */
static bool lint_sql(Lint *l, const char *sql, int line, Ctx ctx)
{
    SqlScript *script = NULL;
    Err err;
    bool ok = true;
    err_clear(&err);
    if (!sql_script_parse(sql, l->path, line, &script, &err)) {
        err_print(&err);
        return false;
    }
    for (int i = 0; i < sql_script_count(script); i++)
        ok = lint_statement(l, sql_script_get(script, i), ctx) && ok;
    sql_script_free(script);
    return ok;
}

/* ---- partmig migration files ---- */

/* Lines where each step's SQL and undo block start in TEXT (0: none). */
static void locate_steps(const char *text, int nsteps, int *sql_line, int *undo_line)
{
    int step = 0, line = 0;
    bool want_sql = false;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        line++;
        if (!strncmp(p, "-- partmig:step ", 16)) {
            step = atoi(p + 16);
            want_sql = step >= 1 && step <= nsteps;
        } else if (n == 15 && !strncmp(p, "-- partmig:undo", 15)) {
            if (step >= 1 && step <= nsteps)
                undo_line[step - 1] = line + 1;
            want_sql = false;
        } else if (!strncmp(p, "-- partmig:end", 14)) {
            want_sql = false;
        } else if (want_sql && n > 0 && strncmp(p, "--", 2)) {
            /* plan_read drops the empty lines before a step's SQL */
            sql_line[step - 1] = line;
            want_sql = false;
        }
        p += n + (nl ? 1 : 0);
    }
}

/* The tables of a migration's policy lines: partmig manages them partitioned. */
static void policy_tables(Lint *l, const Migration *m)
{
    for (int i = 0; i < m->npolicies; i++) {
        json_error_t jerr;
        json_t *policy = json_loads(m->policies[i], 0, &jerr);
        TableName t = {get_str(policy, "schema"), get_str(policy, "table")};
        set_add(l, &l->partitioned, t); /* copies the names; NULL name is ignored */
        json_decref(policy);
    }
}

static bool lint_migration(Lint *l)
{
    Migration m;
    Err err;
    bool ok = true;
    err_clear(&err);
    if (!plan_read(l->path, l->text, l->arena, &m, &err)) {
        err_print(&err);
        return false;
    }
    policy_tables(l, &m);
    if (m.lock_timeout && strtod(m.lock_timeout, NULL) != 0)
        l->lock_timeout = true;
    /* the preamble's SET statements (everything before the first step),
     * linted and counted like the steps' SQL */
    const char *first_step = strstr(l->text, "\n-- partmig:step ");
    size_t preamble_len = first_step ? (size_t)(first_step - l->text) + 1 : strlen(l->text);
    ok = lint_sql(l, arena_printf(l->arena, "%.*s", (int)preamble_len, l->text), 1, (Ctx){0}) && ok;
    int *sql_line = arena_alloc(l->arena, (size_t)(m.nsteps + 1) * sizeof *sql_line);
    int *undo_line = arena_alloc(l->arena, (size_t)(m.nsteps + 1) * sizeof *undo_line);
    locate_steps(l->text, m.nsteps, sql_line, undo_line);

    for (int i = 0; i < m.nsteps; i++) {
        const Step *s = &m.steps[i];
        Ctx ctx = {.transactional = s->transactional};
        /* what the step's action says about its table */
        if (s->table && (s->action == STEP_ENSURE_TABLE || s->action == STEP_PREMAKE))
            set_add(l, &l->partitioned, step_table(l, s->table));
        if (s->sql)
            ok = lint_sql(l, s->sql, sql_line[i] ? sql_line[i] : 1, ctx) && ok;
        if (s->undo == UNDO_SQL && s->undo_sql) {
            Ctx undo = ctx;
            undo.in_undo = true;
            ok = lint_sql(l, s->undo_sql, undo_line[i] ? undo_line[i] : 1, undo) && ok;
        }
    }
    return ok;
}

/* ---- the command ---- */

typedef struct Totals {
    int files, statements, findings;
    bool failed; /* unreadable or unparsable input */
} Totals;

static void lint_file(const char *path, Carry *carry, Totals *totals)
{
    Arena arena = {0};
    Lint l = {.arena = &arena, .path = path};
    char *text = NULL;
    size_t len = 0;
    Err err;
    bool ok;

    err_clear(&err);
    if (!fs_read_all(path, &arena, &text, &len, &err)) {
        err_print(&err);
        totals->failed = true;
        goto done;
    }
    if (strlen(text) != len) {
        err_at(&err, PM_EINPUT, path, 0, "not a text file (holds a NUL byte)");
        err_print(&err);
        totals->failed = true;
        goto done;
    }
    l.text = text;
    if (carry)
        for (int i = 0; i < carry->partitioned.n; i++)
            set_add(&l, &l.partitioned, carry->partitioned.items[i]);
    if (!strncmp(text, "-- partmig migration ", 21))
        ok = lint_migration(&l);
    else
        ok = lint_sql(&l, text, 1, (Ctx){0});
    if (carry)
        for (int i = 0; i < l.partitioned.n; i++)
            set_add_in(&carry->arena, &carry->partitioned, l.partitioned.items[i]);
    if (!ok)
        totals->failed = true;
    totals->files++;
    totals->statements += l.statements;
    totals->findings += l.findings;
done:
    arena_free(&arena);
}

static void lint_path(const char *path, Totals *totals)
{
    Arena arena = {0};
    Carry carry = {0};
    const char **names = NULL;
    int n = 0;
    Err err;
    err_clear(&err);
    if (!fs_is_dir(path)) {
        lint_file(path, NULL, totals);
        return;
    }
    if (!fs_list(path, ".sql", false, &arena, &names, &n, &err)) {
        err_print(&err);
        totals->failed = true;
    }
    for (int i = 0; i < n; i++)
        lint_file(arena_printf(&arena, "%s/%s", path, names[i]), &carry, totals);
    arena_free(&carry.arena);
    arena_free(&arena);
}

static void lint_usage(FILE *out)
{
    fputs("usage: partmig lint [DIR|FILE]...\n"
          "\n"
          "Parses migration files with PostgreSQL's parser (libpg_query) and flags\n"
          "risky statements.  A directory means its *.sql files; default: migrations/.\n"
          "partmig migrations are read step by step (transactional flag, undo blocks);\n"
          "other files as plain SQL, in order, as one psql session.\n"
          "\n"
          "Each finding is printed as\n"
          "  file:line: rule: message\n"
          "  hint: how to do it safely\n"
          "A reviewed exception is kept with a comment on the line above the statement:\n"
          "  -- partmig-lint: allow RULE[,RULE]\n"

          "\n"
          "rules:\n",
          out);
    for (size_t i = 0; i < sizeof rules / sizeof *rules; i++)
        fprintf(out, "  %-32s %s\n", rules[i].name, rules[i].what);
    fputs("\n"
          "exit codes: 0 no findings, 1 findings, 2 usage error or a file that cannot be\n"
          "            read or parsed\n",
          out);
}

int cmd_lint(int argc, char **argv)
{
    Totals totals = {0};
    int npaths = 0;
    bool options_done = false;

    for (int i = 1; i < argc; i++) {
        if (options_done || argv[i][0] != '-') {
            npaths++;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            lint_usage(stdout);
            return PM_OK;
        }
        if (!strcmp(argv[i], "--")) {
            options_done = true;
            continue;
        }
        log_msg(LOG_ERROR, "lint: unknown option \"%s\"", argv[i]);
        log_hint("run \"partmig lint --help\"");
        return PM_EINPUT;
    }
    options_done = false;
    for (int i = 1; i < argc; i++) {
        if (!options_done && !strcmp(argv[i], "--")) {
            options_done = true;
            continue;
        }
        if (options_done || argv[i][0] != '-')
            lint_path(argv[i], &totals);
    }
    if (npaths == 0)
        lint_path("migrations", &totals);
    sql_parse_cleanup();
    fflush(stdout);

    log_msg(LOG_INFO, "lint: %d file%s, %d statement%s, %d finding%s", totals.files, totals.files == 1 ? "" : "s",
            totals.statements, totals.statements == 1 ? "" : "s", totals.findings, totals.findings == 1 ? "" : "s");
    if (totals.failed)
        return PM_EINPUT;
    return totals.findings ? 1 : PM_OK;
}
