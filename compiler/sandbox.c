/* sandbox.c: load a Lua policy file in a sandbox and turn its `defaults` and
 * `partition` calls into Policy structs.  The only file using the Lua API. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "../common/fs.h"
#include "../model/policy.h"
#include "validate.h"

#define MEMORY_LIMIT      ((size_t)POLICY_MEMORY_LIMIT) /* bytes a policy file's Lua state may allocate */
#define INSTRUCTION_LIMIT 50000000LL                    /* VM instructions a policy file may run */
#define HOOK_EVERY        1000
#define PRINT_MAX_LINES   100  /* lines `print` writes for one policy file; the rest is dropped */
#define PRINT_MAX_LINE    1000 /* bytes of one printed line; the rest is cut */

/* What every policy file this process loads shares (one compile loads them
 * all): the bytes copied out of Lua into policies (POLICY_MAX_BYTES) and the
 * CPU used (POLICY_CPU_SECONDS), so that many files cannot add up to more. */
static size_t copied_bytes;
static long cpu_used_usec;

/* The instruction hook never runs inside one C call (a string pattern with
 * backtracking over a long subject runs for hours in string.find) nor in a
 * finalizer, so a CPU timer is the last word: it prints the message prepared
 * for the file being loaded and exits.  It stays armed until the Lua state
 * is closed.  Only async-signal-safe calls in the handler. */
static char cpu_limit_message[700];
static size_t cpu_limit_message_len;
static long cpu_armed_usec;

static void cpu_limit_hit(int sig)
{
    (void)sig;
    ssize_t w = write(STDERR_FILENO, cpu_limit_message, cpu_limit_message_len);
    (void)w;
    _exit(PM_EINPUT);
}

/* POLICY_CPU_SECONDS, or PARTMIG_POLICY_CPU_SECONDS (1-600; tests use it). */
static int cpu_limit_seconds(void)
{
    const char *v = getenv("PARTMIG_POLICY_CPU_SECONDS");
    int n = v ? atoi(v) : 0;
    return n >= 1 && n <= 600 ? n : POLICY_CPU_SECONDS;
}

static struct sigaction cpu_previous_action;

/* Arm the CPU timer for PATH (printable) with what is left of the budget. */
static void cpu_limit_arm(const char *path)
{
    int seconds = cpu_limit_seconds();
    long left = seconds * 1000000L - cpu_used_usec;
    if (left < 1000)
        left = 1000; /* the budget is spent: fire at once */
    snprintf(cpu_limit_message, sizeof cpu_limit_message,
             "%s: policy took too long (more than %d s of CPU%s)\nhint: look for an endless loop or a string "
             "pattern that backtracks over a long text\n",
             path, seconds, cpu_used_usec ? ", the policy files loaded before it included" : "");
    cpu_limit_message_len = strlen(cpu_limit_message);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cpu_limit_hit;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, &cpu_previous_action);
    struct itimerval t = {{0, 0}, {left / 1000000, left % 1000000}};
    cpu_armed_usec = left;
    setitimer(ITIMER_PROF, &t, NULL);
}

/* Disarm the CPU timer, count what was used, and put back whatever SIGPROF
 * handler was there before. */
static void cpu_limit_disarm(void)
{
    struct itimerval off = {{0, 0}, {0, 0}}, left;
    setitimer(ITIMER_PROF, &off, &left);
    long remaining = left.it_value.tv_sec * 1000000L + left.it_value.tv_usec;
    cpu_used_usec += remaining < cpu_armed_usec ? cpu_armed_usec - remaining : 0;
    sigaction(SIGPROF, &cpu_previous_action, NULL);
}

/* State of one file's load; the lua_State's allocator userdata. */
typedef struct Sandbox {
    const char *path;      /* chunk name without '@', for messages */
    const char *chunkname; /* "@path" */
    const char *text;      /* the file's text, read by partmig (fs_read_regular) */
    size_t text_len;
    Arena *arena;    /* owns every string of the policies made */
    PolicySet *set;  /* policies are appended here */
    Err *err;        /* first policy error (sticky: a Lua pcall cannot hide it) */
    size_t mem_used; /* bytes the Lua state holds (MEMORY_LIMIT) */
    int prints;      /* lines `print` wrote */
    bool out_of_memory, timed_out;
    long long instructions;
    int defaults_ref; /* registry ref of the merged defaults table, or LUA_NOREF */
    int defaults_line;
} Sandbox;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    Sandbox *sb = ud;
    if (!ptr)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        sb->mem_used -= osize;
        return NULL;
    }
    if (nsize > osize && sb->mem_used + (nsize - osize) > MEMORY_LIMIT) {
        sb->out_of_memory = true;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p)
        sb->mem_used = sb->mem_used - osize + nsize;
    return p;
}

static Sandbox *sandbox_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    Sandbox *sb = sandbox_of(L);
    sb->instructions += HOOK_EVERY;
    if (sb->instructions > INSTRUCTION_LIMIT) {
        /* from now on every instruction fails, so a policy's own pcall
         * cannot swallow the error and carry on */
        if (!sb->timed_out)
            lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
        sb->timed_out = true;
        luaL_error(L, "policy took too long (more than %d million instructions)", (int)(INSTRUCTION_LIMIT / 1000000));
    }
}

/* Message handler: keep the message, make non-strings readable. */
static int message_handler(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING)
        return 1;
    lua_pushfstring(L, "error object is a %s value", luaL_typename(L, 1));
    return 1;
}

static int unknown_global(lua_State *L)
{
    const char *name = lua_tostring(L, 2);
    return luaL_error(L, "unknown global \"%s\"", name ? name : "?");
}

/* ---- converting a Lua table into a Policy (raw access only: no metamethod
 * of a policy's tables ever runs) ---- */

typedef struct Conv {
    lua_State *L;
    Sandbox *sb;
    const char *what; /* "partition \"t\"" or "defaults" */
    int line;         /* line of the call */
    int tbl;          /* absolute index of the partition's table */
    const char *call; /* "partition", "defaults", or NULL: no table constructor to search */
    const char *name; /* the partition's table name (NULL for defaults) */
} Conv;

/* Fail about KEY (a path such as "retention.keep" or "indexes[2].columns";
 * NULL: the call as a whole) with HINT, or when HINT is NULL a hint showing
 * how KEY is written.  The error names the line KEY is written on when the
 * policy's text shows it (policy_key_line), else the call's line. */
static int conv_fail_hint(Conv *c, const char *key, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));
static int conv_fail_hint(Conv *c, const char *key, const char *hint, const char *fmt, ...)
{
    /* the message quotes the policy's text: escape it all (partmig's own text has no control characters) */
    char msg[900], full[1100], escaped[sizeof c->sb->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s: %s", c->what, msg);
    text_escape(escaped, sizeof escaped, full, strlen(full));
    if (c->sb->err->code == PM_OK) {
        int line = c->line;
        if (key && c->call) {
            int at = policy_key_line(c->sb->path, c->line, c->call, c->name, key);
            if (at > 0)
                line = at;
        }
        err_at(c->sb->err, PM_EINPUT, c->sb->path, line, "%s", escaped);
        const char *example = policy_key_example(key);
        if (hint) {
            char h[sizeof c->sb->err->hint];
            text_escape(h, sizeof h, hint, strlen(hint));
            err_hint(c->sb->err, "%s", h);
        } else if (example) {
            err_hint(c->sb->err, "for example %s; docs/POLICY.md describes every key", example);
        } else {
            err_hint(c->sb->err, "docs/POLICY.md describes every key, its type and an example");
        }
    }
    lua_pushstring(c->L, msg);
    lua_error(c->L);
    abort(); /* not reached */
}

#define conv_fail(c, key, ...) conv_fail_hint(c, key, NULL, __VA_ARGS__)

/* SIZE more bytes copied out of Lua, against POLICY_MAX_BYTES. */
static void charge(Conv *c, size_t size)
{
    if (size > POLICY_MAX_BYTES - copied_bytes)
        conv_fail_hint(c, NULL,
                       "a policy describes tables: generate fewer or smaller entries, or split the set into "
                       "several compiles",
                       "policies take more than %d MiB once read (the limit for all policy files together)",
                       POLICY_MAX_BYTES >> 20);
    copied_bytes += size;
}

/* Zeroed memory for the policy being made, charged. */
static void *conv_alloc(Conv *c, size_t size)
{
    charge(c, size);
    return arena_alloc(c->sb->arena, size);
}

/* A copy of S (LEN bytes) for the policy being made, charged. */
static const char *conv_strndup(Conv *c, const char *s, size_t len)
{
    charge(c, len + 1);
    return arena_strndup(c->sb->arena, s, len);
}

/* t[key] without metamethods; pushes the value, returns its type. */
static int rawgetfield(lua_State *L, int idx, const char *key)
{
    idx = lua_absindex(L, idx);
    lua_pushstring(L, key);
    return lua_rawget(L, idx);
}

static const char *lua_kind(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER)
        return lua_isinteger(L, idx) ? "an integer" : "a number";
    return lua_type(L, idx) == LUA_TNIL ? "nil" : lua_typename(L, lua_type(L, idx));
}

static const char *to_str(Conv *c, int idx, const char *key)
{
    if (lua_type(c->L, idx) != LUA_TSTRING)
        conv_fail(c, key, "%s: expected a string, got %s", key, lua_kind(c->L, idx));
    size_t len;
    const char *s = lua_tolstring(c->L, idx, &len);
    if (strlen(s) != len)
        conv_fail(c, key, "%s: contains a NUL byte", key);
    if (len > POLICY_MAX_STRING)
        conv_fail(c, key, "%s: longer than %d bytes, the limit for one string", key, POLICY_MAX_STRING);
    const char *bad = validate_text(s);
    if (bad)
        conv_fail(c, key, "%s \"%s\": holds %s", key, s, bad);
    return conv_strndup(c, s, len);
}

/* A string, or an integer given as a number (list values, integer start). */
static const char *to_str_or_int(Conv *c, int idx, const char *key)
{
    if (lua_type(c->L, idx) == LUA_TNUMBER) {
        lua_Integer v;
        int isint;
        v = lua_tointegerx(c->L, idx, &isint);
        if (!isint)
            conv_fail(c, key, "%s: expected a string or an integer, got a number", key);
        char text[32];
        snprintf(text, sizeof text, "%lld", (long long)v);
        return conv_strndup(c, text, strlen(text));
    }
    if (lua_type(c->L, idx) != LUA_TSTRING)
        conv_fail(c, key, "%s: expected a string or an integer, got %s", key, lua_kind(c->L, idx));
    return to_str(c, idx, key);
}

static long long to_int(Conv *c, int idx, const char *key, long long lo, long long hi)
{
    int isint = 0;
    lua_Integer v = lua_type(c->L, idx) == LUA_TNUMBER ? lua_tointegerx(c->L, idx, &isint) : 0;
    if (!isint)
        conv_fail(c, key, "%s: expected an integer %lld..%lld, got %s", key, lo, hi, lua_kind(c->L, idx));
    if (v < lo || v > hi)
        conv_fail(c, key, "%s %lld: expected an integer %lld..%lld", key, (long long)v, lo, hi);
    return (long long)v;
}

static bool to_bool(Conv *c, int idx, const char *key)
{
    if (lua_type(c->L, idx) != LUA_TBOOLEAN)
        conv_fail(c, key, "%s: expected true or false, got %s", key, lua_kind(c->L, idx));
    return lua_toboolean(c->L, idx);
}

static int to_choice(Conv *c, int idx, const char *key, const char *const *choices, int n)
{
    const char *s = to_str(c, idx, key);
    for (int i = 0; i < n; i++)
        if (!strcmp(s, choices[i]))
            return i;
    char allowed[200] = "";
    for (int i = 0; i < n; i++)
        snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s\"%s\"", i ? " | " : "", choices[i]);
    conv_fail(c, key, "%s \"%s\": expected %s", key, s, allowed);
}

static void check_table(Conv *c, int idx, const char *key)
{
    if (lua_type(c->L, idx) != LUA_TTABLE)
        conv_fail(c, key, "%s: expected a table, got %s", key, lua_kind(c->L, idx));
}

/* "a, b, c" from a NULL-terminated list. */
static void join_allowed(char *out, size_t size, const char *const *allowed)
{
    out[0] = '\0';
    for (int i = 0; allowed[i]; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? ", " : "", allowed[i]);
}

/* Every key of the table at IDX is a string in ALLOWED (NULL-terminated).
 * Of several unknown keys the alphabetically first is named, so the message
 * does not depend on Lua's hash order. */
static void check_keys(Conv *c, int idx, const char *where, const char *const *allowed)
{
    char unknown[128] = "";
    bool have_unknown = false;
    idx = lua_absindex(c->L, idx);
    lua_pushnil(c->L);
    while (lua_next(c->L, idx)) {
        lua_pop(c->L, 1);
        bool ok = false;
        if (lua_type(c->L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(c->L, -1);
            for (int i = 0; allowed[i]; i++)
                if (!strcmp(k, allowed[i]))
                    ok = true;
            if (!ok && (!have_unknown || strcmp(k, unknown) < 0)) {
                snprintf(unknown, sizeof unknown, "%s", k);
                have_unknown = true;
            }
            continue;
        }
        char list[600];
        join_allowed(list, sizeof list, allowed);
        conv_fail(c, *where ? where : NULL, "%s: keys must be names (got a key of type %s); allowed: %s",
                  *where ? where : "table", luaL_typename(c->L, -1), list);
    }
    if (have_unknown) {
        char list[600], path[300], hint[400];
        join_allowed(list, sizeof list, allowed);
        snprintf(path, sizeof path, "%s%s%s", where, *where ? "." : "", unknown);
        const char *near = validate_closest(unknown, allowed);
        if (near)
            snprintf(hint, sizeof hint, "did you mean \"%s\"? docs/POLICY.md describes every key", near);
        else
            snprintf(hint, sizeof hint,
                     "remove it, or spell it as one of the allowed keys; docs/POLICY.md describes "
                     "every key");
        conv_fail_hint(c, path, hint, "unknown key \"%s\"; allowed: %s", path, list);
    }
}

/* Length of the array at IDX, refusing any non-sequence key and more than
 * MAX entries (a POLICY_MAX_* limit). */
static int array_len(Conv *c, int idx, const char *key, int max)
{
    idx = lua_absindex(c->L, idx);
    check_table(c, idx, key);
    lua_Integer n = (lua_Integer)lua_rawlen(c->L, idx);
    if (n > max)
        conv_fail(c, key, "%s: %lld entries, more than the limit of %d", key, (long long)n, max);
    lua_pushnil(c->L);
    while (lua_next(c->L, idx)) {
        lua_pop(c->L, 1);
        int isint = 0;
        lua_Integer k = lua_type(c->L, -1) == LUA_TNUMBER ? lua_tointegerx(c->L, -1, &isint) : 0;
        if (!isint || k < 1 || k > n)
            conv_fail(c, key, "%s: expected a list { ... } without named keys", key);
    }
    return (int)n;
}

/* A list of strings (at most MAX), or with ALLOW_SINGLE one string. */
static StrList to_strlist(Conv *c, int idx, const char *key, bool allow_single, int max)
{
    StrList l = {0};
    idx = lua_absindex(c->L, idx);
    if (allow_single && lua_type(c->L, idx) == LUA_TSTRING) {
        l.items = conv_alloc(c, sizeof *l.items);
        l.items[0] = to_str(c, idx, key);
        l.n = 1;
        return l;
    }
    l.n = array_len(c, idx, key, max);
    l.items = conv_alloc(c, sizeof *l.items * (size_t)(l.n + 1));
    for (int i = 0; i < l.n; i++) {
        char where[300];
        snprintf(where, sizeof where, "%s[%d]", key, i + 1);
        lua_rawgeti(c->L, idx, i + 1);
        l.items[i] = to_str_or_int(c, -1, where);
        lua_pop(c->L, 1);
    }
    return l;
}

static Interval to_interval(Conv *c, int idx, const char *key, bool allow_integer)
{
    Interval iv = {0};
    const char *expected = allow_integer ? "expected N hour|day|week|month|quarter|year or an integer step"
                                         : "expected N hour|day|week|month|quarter|year";
    if (lua_type(c->L, idx) == LUA_TNUMBER) {
        int isint = 0;
        lua_Integer v = lua_tointegerx(c->L, idx, &isint);
        if (!allow_integer || !isint || v < 1)
            conv_fail(c, key, "%s %s: %s", key, lua_tostring(c->L, idx), expected);
        iv.unit = UNIT_INTEGER;
        iv.count = (int64_t)v;
        return iv;
    }
    const char *s = to_str(c, idx, key);
    if (!interval_parse(s, allow_integer, &iv))
        conv_fail(c, key, "%s \"%s\": %s", key, s, expected);
    return iv;
}

static int cmp_list(const void *a, const void *b)
{
    return strcmp(((const ListPartition *)a)->name, ((const ListPartition *)b)->name);
}

/* values = { name = { "A", "B" }, ... }, sorted by name; at most
 * POLICY_MAX_LISTS lists and POLICY_MAX_LIST_VALUES values in all. */
static ListPartition *to_lists(Conv *c, int idx, const char *key, int *n)
{
    idx = lua_absindex(c->L, idx);
    check_table(c, idx, key);
    int cap = 0, values = 0;
    ListPartition *lists = NULL;
    *n = 0;
    lua_pushnil(c->L);
    while (lua_next(c->L, idx)) {
        if (lua_type(c->L, -2) != LUA_TSTRING)
            conv_fail(c, key, "%s: expected { name = { values... }, ... } with names as keys", key);
        if (*n == POLICY_MAX_LISTS)
            conv_fail(c, key, "%s: more than %d lists, the limit for one table", key, POLICY_MAX_LISTS);
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            charge(c, sizeof *lists * (size_t)cap);
            lists = arena_grow(c->sb->arena, lists, (size_t)*n, (size_t)cap, sizeof *lists);
        }
        ListPartition *lp = &lists[(*n)++];
        lp->name = to_str(c, -2, key);
        char where[1100];
        snprintf(where, sizeof where, "%s.%s", key, lp->name);
        lp->values = to_strlist(c, -1, where, false, POLICY_MAX_LIST_VALUES);
        values += lp->values.n;
        if (values > POLICY_MAX_LIST_VALUES)
            conv_fail(c, key, "%s: more than %d values in all lists, the limit for one table", key,
                      POLICY_MAX_LIST_VALUES);
        lua_pop(c->L, 1);
    }
    if (*n > 1)
        qsort(lists, (size_t)*n, sizeof *lists, cmp_list);
    return lists;
}

static const char *const by_choices[] = {"range", "list", "hash"};

static void to_indexes(Conv *c, int idx, Policy *p)
{
    static const char *const keys[] = {"columns", "unique", "name", "method", NULL};
    static const char *const methods[] = {"btree", "hash", "gin", "gist", "brin"};
    int n = array_len(c, idx, "indexes", POLICY_MAX_INDEXES);
    p->indexes = conv_alloc(c, sizeof *p->indexes * (size_t)(n + 1));
    p->nindexes = n;
    for (int i = 0; i < n; i++) {
        char where[32], key[64];
        snprintf(where, sizeof where, "indexes[%d]", i + 1);
        IndexSpec *ix = &p->indexes[i];
        lua_rawgeti(c->L, idx, i + 1);
        check_table(c, -1, where);
        check_keys(c, -1, where, keys);
        if (rawgetfield(c->L, -1, "columns") == LUA_TNIL)
            conv_fail(c, where, "%s: \"columns\" is required, e.g. { columns = { \"tenant_id\" } }", where);
        snprintf(key, sizeof key, "%s.columns", where);
        ix->columns = to_strlist(c, -1, key, true, POLICY_MAX_INDEX_COLUMNS);
        lua_pop(c->L, 1);
        if (rawgetfield(c->L, -1, "unique") != LUA_TNIL)
            snprintf(key, sizeof key, "%s.unique", where), ix->unique = to_bool(c, -1, key);
        lua_pop(c->L, 1);
        if (rawgetfield(c->L, -1, "name") != LUA_TNIL)
            snprintf(key, sizeof key, "%s.name", where), ix->name = to_str(c, -1, key);
        lua_pop(c->L, 1);
        if (rawgetfield(c->L, -1, "method") != LUA_TNIL)
            snprintf(key, sizeof key, "%s.method", where), ix->method = methods[to_choice(c, -1, key, methods, 5)];
        lua_pop(c->L, 2);
    }
}

static void to_retention(Conv *c, int idx, Policy *p)
{
    static const char *const keys[] = {"keep", "keep_table", "keep_index", "archive", NULL};
    Retention *r = &p->retention;
    check_table(c, idx, "retention");
    check_keys(c, idx, "retention", keys);
    r->set = true;
    if (rawgetfield(c->L, idx, "keep") == LUA_TNIL)
        conv_fail(c, "retention", "retention: \"keep\" is required, e.g. keep = \"24 months\"");
    r->keep = to_interval(c, -1, "retention.keep", false);
    lua_pop(c->L, 1);
    if (rawgetfield(c->L, idx, "keep_table") != LUA_TNIL)
        r->keep_table = to_bool(c, -1, "retention.keep_table");
    lua_pop(c->L, 1);
    if (rawgetfield(c->L, idx, "keep_index") != LUA_TNIL)
        r->keep_index = to_bool(c, -1, "retention.keep_index");
    lua_pop(c->L, 1);
    if (rawgetfield(c->L, idx, "archive") != LUA_TNIL) {
        const char *a = to_str(c, -1, "retention.archive");
        if (!strncmp(a, "schema:", 7) && a[7]) {
            r->archive = ARCHIVE_SCHEMA;
            r->archive_target = a + 7;
        } else if (!strncmp(a, "dump:", 5) && a[5]) {
            r->archive = ARCHIVE_DUMP;
            r->archive_target = a + 5;
        } else {
            conv_fail(c, "retention.archive",
                      "retention.archive \"%s\": expected nil, \"schema:<name>\" or \"dump:<directory>\"", a);
        }
    }
    lua_pop(c->L, 1);
}

static void to_tiering(Conv *c, int idx, Policy *p)
{
    static const char *const keys[] = {"older_than", "tablespace", NULL};
    int n = array_len(c, idx, "tiering", POLICY_MAX_TIERS);
    p->tiers = conv_alloc(c, sizeof *p->tiers * (size_t)(n + 1));
    p->ntiers = n;
    for (int i = 0; i < n; i++) {
        char where[32], key[64];
        snprintf(where, sizeof where, "tiering[%d]", i + 1);
        lua_rawgeti(c->L, idx, i + 1);
        check_table(c, -1, where);
        check_keys(c, -1, where, keys);
        if (rawgetfield(c->L, -1, "older_than") == LUA_TNIL)
            conv_fail(c, where, "%s: \"older_than\" is required, e.g. older_than = \"6 months\"", where);
        snprintf(key, sizeof key, "%s.older_than", where);
        p->tiers[i].older_than = to_interval(c, -1, key, false);
        lua_pop(c->L, 1);
        if (rawgetfield(c->L, -1, "tablespace") == LUA_TNIL)
            conv_fail_hint(c, where, "add tablespace = \"NAME\", a tablespace that exists on the server",
                           "%s: \"tablespace\" is required", where);
        snprintf(key, sizeof key, "%s.tablespace", where);
        p->tiers[i].tablespace = to_str(c, -1, key);
        lua_pop(c->L, 2);
    }
}

static void to_subpartition(Conv *c, int idx, Policy *p)
{
    static const char *const keys[] = {"by", "column", "modulus", "values", NULL};
    Subpartition *s = &p->subpartition;
    check_table(c, idx, "subpartition");
    check_keys(c, idx, "subpartition", keys);
    s->set = true;
    if (rawgetfield(c->L, idx, "by") == LUA_TNIL)
        conv_fail(c, "subpartition", "subpartition: \"by\" is required (\"hash\" or \"list\")");
    static const char *const sub_by[] = {"hash", "list"};
    s->by = to_choice(c, -1, "subpartition.by", sub_by, 2) == 0 ? PART_HASH : PART_LIST;
    lua_pop(c->L, 1);
    if (rawgetfield(c->L, idx, "column") == LUA_TNIL)
        conv_fail(c, "subpartition", "subpartition: \"column\" is required");
    s->column = to_str(c, -1, "subpartition.column");
    lua_pop(c->L, 1);
    if (rawgetfield(c->L, idx, "modulus") != LUA_TNIL)
        s->modulus = (int)to_int(c, -1, "subpartition.modulus", 2, 1024);
    lua_pop(c->L, 1);
    if (rawgetfield(c->L, idx, "values") != LUA_TNIL)
        s->lists = to_lists(c, -1, "subpartition.values", &s->nlists);
    lua_pop(c->L, 1);
    if (s->by == PART_HASH && (s->modulus == 0 || s->nlists))
        conv_fail(c, "subpartition", "subpartition by \"hash\" needs \"modulus\" (2..1024) and no \"values\"");
    if (s->by == PART_LIST && (s->nlists == 0 || s->modulus))
        conv_fail(c, "subpartition",
                  "subpartition by \"list\" needs \"values\" = { name = { ... } } and no \"modulus\"");
}

static void to_existing(Conv *c, int idx, Policy *p)
{
    static const char *const keys[] = {"method", "batch_size", "jobs", NULL};
    static const char *const methods[] = {"copy", "attach", "none"};
    check_table(c, idx, "existing");
    check_keys(c, idx, "existing", keys);
    if (rawgetfield(c->L, idx, "method") != LUA_TNIL)
        p->existing.method = (ExistingMethod)to_choice(c, -1, "existing.method", methods, 3);
    lua_pop(c->L, 1);
    if (rawgetfield(c->L, idx, "batch_size") != LUA_TNIL)
        p->existing.batch_size = (int)to_int(c, -1, "existing.batch_size", 100, 10000000);
    lua_pop(c->L, 1);
    if (rawgetfield(c->L, idx, "jobs") != LUA_TNIL)
        p->existing.jobs = (int)to_int(c, -1, "existing.jobs", 1, 16);
    lua_pop(c->L, 1);
}

static void to_columns(Conv *c, int idx, Policy *p)
{
    int n = array_len(c, idx, "columns", POLICY_MAX_COLUMNS);
    if (n == 0)
        conv_fail(c, "columns", "columns: expected at least one { \"name\", \"type\" } pair");
    p->columns = conv_alloc(c, sizeof *p->columns * (size_t)n);
    p->ncolumns = n;
    for (int i = 0; i < n; i++) {
        char where[32], key[64];
        snprintf(where, sizeof where, "columns[%d]", i + 1);
        lua_rawgeti(c->L, idx, i + 1);
        if (lua_type(c->L, -1) != LUA_TTABLE || lua_rawlen(c->L, -1) != 2 || array_len(c, -1, where, 2) != 2)
            conv_fail(c, where, "%s: expected a { \"name\", \"type\" } pair", where);
        lua_rawgeti(c->L, -1, 1);
        snprintf(key, sizeof key, "%s name", where);
        p->columns[i].name = to_str(c, -1, key);
        lua_rawgeti(c->L, -2, 2);
        snprintf(key, sizeof key, "%s type", where);
        p->columns[i].type = to_str(c, -1, key);
        lua_pop(c->L, 3);
    }
}

static const char *const policy_keys[] = {"schema",   "by",        "column",      "interval",
                                          "start",    "premake",   "timezone",    "default_partition",
                                          "indexes",  "retention", "tiering",     "subpartition",
                                          "existing", "backend",   "naming",      "modulus",
                                          "values",   "columns",   "primary_key", NULL};

/* Push the policy's value for KEY: from its own table, else from defaults. */
static int get_key(Conv *c, const char *key)
{
    int t = rawgetfield(c->L, c->tbl, key);
    if (t != LUA_TNIL || c->sb->defaults_ref == LUA_NOREF)
        return t;
    lua_pop(c->L, 1);
    lua_rawgeti(c->L, LUA_REGISTRYINDEX, c->sb->defaults_ref);
    t = rawgetfield(c->L, -1, key);
    lua_remove(c->L, -2);
    return t;
}

/* Fill P from the table at c->tbl (and the defaults). */
static void to_policy(Conv *c, Policy *p)
{
    lua_State *L = c->L;
    if (get_key(c, "schema") != LUA_TNIL)
        p->schema = to_str(c, -1, "schema");
    lua_pop(L, 1);
    if (get_key(c, "by") != LUA_TNIL)
        p->by = (PartBy)to_choice(c, -1, "by", by_choices, 3);
    lua_pop(L, 1);
    if (get_key(c, "column") != LUA_TNIL)
        p->column = to_str(c, -1, "column");
    lua_pop(L, 1);
    if (get_key(c, "interval") != LUA_TNIL)
        p->interval = to_interval(c, -1, "interval", true);
    lua_pop(L, 1);
    if (get_key(c, "start") != LUA_TNIL)
        p->start = to_str_or_int(c, -1, "start");
    lua_pop(L, 1);
    if (get_key(c, "premake") != LUA_TNIL)
        p->premake = (int)to_int(c, -1, "premake", 0, 1000);
    lua_pop(L, 1);
    if (get_key(c, "timezone") != LUA_TNIL) {
        p->timezone = to_str(c, -1, "timezone");
        /* checked here, not only in validate: a zone from `defaults` then
         * names the defaults' line */
        const char *problem = validate_timezone_problem(p->timezone);
        if (problem) {
            char near[200], hint[300];
            if (validate_timezone_suggest(p->timezone, near, sizeof near))
                snprintf(hint, sizeof hint,
                         "did you mean %s? (IANA Area/City names as PostgreSQL knows them, or "
                         "\"UTC\")",
                         near);
            else
                snprintf(hint, sizeof hint,
                         "use an IANA Area/City name such as \"Europe/Berlin\" or "
                         "\"America/New_York\", or \"UTC\" (psql: SELECT name FROM "
                         "pg_timezone_names)");
            conv_fail_hint(c, "timezone", hint, "timezone \"%s\": %s", p->timezone, problem);
        }
    }
    lua_pop(L, 1);
    if (get_key(c, "default_partition") != LUA_TNIL)
        p->default_partition = to_bool(c, -1, "default_partition");
    lua_pop(L, 1);
    if (get_key(c, "indexes") != LUA_TNIL)
        to_indexes(c, lua_absindex(L, -1), p);
    lua_pop(L, 1);
    if (get_key(c, "retention") != LUA_TNIL)
        to_retention(c, lua_absindex(L, -1), p);
    lua_pop(L, 1);
    if (get_key(c, "tiering") != LUA_TNIL)
        to_tiering(c, lua_absindex(L, -1), p);
    lua_pop(L, 1);
    if (get_key(c, "subpartition") != LUA_TNIL)
        to_subpartition(c, lua_absindex(L, -1), p);
    lua_pop(L, 1);
    if (get_key(c, "existing") != LUA_TNIL)
        to_existing(c, lua_absindex(L, -1), p);
    lua_pop(L, 1);
    if (get_key(c, "backend") != LUA_TNIL) {
        static const char *const backends[] = {"native", "pg_partman"};
        p->backend = (Backend)to_choice(c, -1, "backend", backends, 2);
    }
    lua_pop(L, 1);
    if (get_key(c, "naming") != LUA_TNIL)
        p->naming = to_str(c, -1, "naming");
    lua_pop(L, 1);
    if (get_key(c, "modulus") != LUA_TNIL)
        p->modulus = (int)to_int(c, -1, "modulus", 2, 1024);
    lua_pop(L, 1);
    if (get_key(c, "values") != LUA_TNIL)
        p->lists = to_lists(c, -1, "values", &p->nlists);
    lua_pop(L, 1);
    if (get_key(c, "columns") != LUA_TNIL)
        to_columns(c, lua_absindex(L, -1), p);
    lua_pop(L, 1);
    if (get_key(c, "primary_key") != LUA_TNIL)
        p->primary_key = to_strlist(c, -1, "primary_key", false, POLICY_MAX_INDEX_COLUMNS);
    lua_pop(L, 1);
}

/* Room for one more policy in the set, within POLICY_MAX_ENTRIES. */
static Policy *append_policy(Conv *c)
{
    PolicySet *set = c->sb->set;
    if (set->n >= POLICY_MAX_ENTRIES)
        conv_fail_hint(c, NULL, "partmig manages at most that many tables in one compile: split the policies",
                       "more than %d partition entries, the limit for one compile", POLICY_MAX_ENTRIES);
    if (set->n >= set->cap) {
        set->cap = set->n ? set->n * 2 : 16;
        charge(c, sizeof *set->items * (size_t)set->cap);
        set->items = arena_grow(c->sb->arena, set->items, (size_t)set->n, (size_t)set->cap, sizeof *set->items);
    }
    return &set->items[set->n++];
}

/* The closure `partition "name"` returns: upvalues name, line. */
static int partition_body(lua_State *L)
{
    Sandbox *sb = sandbox_of(L);
    const char *name = lua_tostring(L, lua_upvalueindex(1));
    int line = (int)lua_tointeger(L, lua_upvalueindex(2));
    char what[300];
    snprintf(what, sizeof what, "partition \"%s\"", name);
    Conv c = {L, sb, what, line, 1, "partition", name};
    if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TTABLE)
        conv_fail_hint(&c, NULL, "write partition \"NAME\" { column = \"created_at\", interval = \"1 month\" }",
                       "expected partition \"%s\" { key = value, ... }", name);
    lua_settop(L, 1);
    check_keys(&c, 1, "", policy_keys);
    Policy p;
    policy_defaults(&p);
    p.source_file = sb->path;
    p.source_line = line;
    p.table = conv_strndup(&c, name, strlen(name));
    to_policy(&c, &p);
    *append_policy(&c) = p;
    return 0;
}

/* Line of the Lua code calling the current C function. */
static int caller_line(lua_State *L)
{
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
        return ar.currentline;
    return 0;
}

/* partition "name" -> function(tbl) */
static int dsl_partition(lua_State *L)
{
    Sandbox *sb = sandbox_of(L);
    int line = caller_line(L);
    if (lua_type(L, 1) != LUA_TSTRING) {
        Conv c = {L, sb, "partition", line, 0, NULL, NULL};
        conv_fail_hint(&c, NULL, "write partition \"NAME\" { column = \"created_at\", interval = \"1 month\" }",
                       "expected a table name: partition \"name\" { ... }");
    }
    size_t len;
    const char *name = lua_tolstring(L, 1, &len);
    if (strlen(name) != len || len > 200) {
        Conv c = {L, sb, "partition", line, 0, NULL, NULL};
        conv_fail_hint(&c, NULL, "table names are lowercase SQL names of at most 63 bytes",
                       "table name must be a short string without NUL bytes");
    }
    lua_settop(L, 1);
    lua_pushinteger(L, line);
    lua_pushcclosure(L, partition_body, 2);
    return 1;
}

/* defaults { ... }: merged into the defaults for later entries. */
static int dsl_defaults(lua_State *L)
{
    Sandbox *sb = sandbox_of(L);
    Conv c = {L, sb, "defaults", caller_line(L), 1, "defaults", NULL};
    if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TTABLE)
        conv_fail_hint(&c, NULL,
                       "write defaults { schema = \"public\", interval = \"1 month\" } (the keys of "
                       "partition entries)",
                       "expected defaults { key = value, ... }");
    check_keys(&c, 1, "", policy_keys);
    /* Check the values' types now (so the error names this line) by converting into a scratch policy. */
    int saved = sb->defaults_ref;
    sb->defaults_ref = LUA_NOREF;
    Policy scratch;
    policy_defaults(&scratch);
    to_policy(&c, &scratch);
    sb->defaults_ref = saved;
    if (sb->defaults_ref == LUA_NOREF) {
        lua_newtable(L);
        sb->defaults_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, sb->defaults_ref);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    return 0;
}

/* ---- library functions replaced for policies ---- */

/* setmetatable without finalizers: Lua runs __gc with hooks off (and at
 * lua_close, after the policy has finished), where no instruction limit
 * reaches.  Lua marks an object for finalization only if its metatable has
 * __gc when it is set, so a later mt.__gc = f has no effect. */
static int sandbox_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "setmetatable: __gc (finalizers) is not allowed in policies");
        lua_pop(L, 1);
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

/* string.rep refusing a result larger than the memory limit before it
 * starts (string.rep("", 1e18) would loop for ages inside one C call). */
static int sandbox_string_rep(lua_State *L)
{
    size_t len, seplen;
    luaL_checklstring(L, 1, &len);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &seplen);
    if (n <= 0 || (len == 0 && seplen == 0)) {
        lua_pushliteral(L, "");
        return 1;
    }
    if (len + seplen > MEMORY_LIMIT / (lua_Unsigned)n)
        return luaL_error(L, "string.rep: the result would be larger than %d MiB, the memory limit",
                          (int)(MEMORY_LIMIT >> 20));
    lua_pushvalue(L, lua_upvalueindex(1)); /* Lua's own string.rep */
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* print: each call writes one line to stderr, "file:line: print: text", the
 * text's control characters escaped and cut at PRINT_MAX_LINE bytes, at most
 * PRINT_MAX_LINES lines a file.  stderr, because stdout carries partmig's
 * own results; the prefix, because no line a policy prints may pass for one
 * of partmig's (an error, a "hint:", a CI log command). */
static int sandbox_print(lua_State *L)
{
    Sandbox *sb = sandbox_of(L);
    int n = lua_gettop(L), line = 0;
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
        line = ar.currentline;
    if (sb->prints >= PRINT_MAX_LINES) {
        if (sb->prints++ == PRINT_MAX_LINES)
            fprintf(stderr, "%s:%d: print: more than %d lines; the rest is dropped\n", sb->path, line, PRINT_MAX_LINES);
        return 0;
    }
    sb->prints++;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, NULL); /* may run a __tostring of the policy's, under the hook */
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    char escaped[PRINT_MAX_LINE * 4 + 1];
    text_escape(escaped, sizeof escaped, text, len < PRINT_MAX_LINE ? len : PRINT_MAX_LINE);
    fprintf(stderr, "%s:%d: print: %s%s\n", sb->path, line, escaped, len > PRINT_MAX_LINE ? " [cut]" : "");
    return 0;
}

/* Build the sandbox: libraries one by one, a private environment whose
 * unknown names are errors.  Leaves the environment table on the stack. */
static int setup(lua_State *L)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                                    {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table},
                                    {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8}};
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    /* string.dump makes bytecode; nothing here may load it, but drop it anyway */
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    lua_getfield(L, -1, "rep");
    lua_pushcclosure(L, sandbox_string_rep, 1);
    lua_setfield(L, -2, "rep");
    lua_pop(L, 1);
    lua_pushcfunction(L, sandbox_setmetatable);
    lua_setglobal(L, "setmetatable");
    lua_pushcfunction(L, sandbox_print);
    lua_setglobal(L, "print");

    static const char *const allowed[] = {"assert",   "error",        "ipairs",       "next",   "pairs",    "pcall",
                                          "rawequal", "rawget",       "rawlen",       "rawset", "select",   "tonumber",
                                          "tostring", "type",         "xpcall",       "print",  "_VERSION", "string",
                                          "table",    "getmetatable", "setmetatable", "math",   "utf8",     NULL};
    lua_newtable(L); /* env */
    for (int i = 0; allowed[i]; i++) {
        lua_getglobal(L, allowed[i]);
        lua_setfield(L, -2, allowed[i]);
    }
    lua_pushcfunction(L, dsl_partition);
    lua_setfield(L, -2, "partition");
    lua_pushcfunction(L, dsl_defaults);
    lua_setfield(L, -2, "defaults");
    lua_newtable(L); /* env's metatable */
    lua_pushcfunction(L, unknown_global);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable"); /* getmetatable(_ENV) cannot reach it */
    lua_setmetatable(L, -2);
    return 1;
}

/* Protected part of a load: [path] -> runs the chunk. */
static int load_and_run(lua_State *L)
{
    Sandbox *sb = sandbox_of(L);
    setup(L); /* env */
    int env = lua_gettop(L);
    /* the text partmig read itself: Lua's own loadfile would block on a
     * FIFO or read a link to /dev/zero forever */
    if (luaL_loadbufferx(L, sb->text, sb->text_len, sb->chunkname, "t") != LUA_OK)
        return lua_error(L); /* syntax error, or a binary chunk */
    lua_pushvalue(L, env);
    if (!lua_setupvalue(L, -2, 1)) /* the chunk's _ENV */
        lua_pop(L, 1);
    lua_call(L, 0, 0);
    return 0;
}

/* Turn a Lua error message "path:line: text" (LEN bytes) into ERR, its
 * control characters escaped: the text is the policy's (error("...")). */
static void lua_message_to_err(Sandbox *sb, const char *msg, size_t len, Err *err)
{
    char escaped[sizeof err->msg];
    size_t pl = strlen(sb->path);
    int line = 0;
    if (len > pl && !strncmp(msg, sb->path, pl) && msg[pl] == ':') {
        char *end;
        long n = strtol(msg + pl + 1, &end, 10);
        if (end != msg + pl + 1 && *end == ':' && n > 0 && n <= 100000000) {
            line = (int)n;
            end += end[1] == ' ' ? 2 : 1;
            len -= (size_t)(end - msg);
            msg = end;
        }
    }
    text_escape(escaped, sizeof escaped, msg, len);
    err_at(err, PM_EINPUT, sb->path, line, "%s", escaped);
}

bool policy_load_file(const char *path, Arena *arena, PolicySet *set, Err *err)
{
    Sandbox sb = {.path = path, .arena = arena, .set = set, .err = err, .defaults_ref = LUA_NOREF};
    Arena scratch = {0}; /* the file's text, freed when loaded */
    int first = set->n;
    err_clear(err);
    bool ok = false, armed = false;
    lua_State *L = NULL;
    const char *bad = validate_text(path);
    if (bad) {
        /* the name goes into messages and into migration files' comments */
        char escaped[sizeof err->file];
        text_escape(escaped, sizeof escaped, path, strlen(path));
        err_set(err, PM_EINPUT, "policy file name \"%s\" holds %s", escaped, bad);
        err_hint(err, "rename the file; partmig prints policy file names and writes them into migration files");
        goto done;
    }
    char *text = NULL;
    if (!fs_read_regular(path, &scratch, &text, &sb.text_len, err))
        goto done;
    if (text[0] == '#') /* a "#!" first line, skipped as lua does, keeping line numbers */
        memset(text, ' ', strcspn(text, "\n"));
    sb.text = text;
    sb.chunkname = arena_printf(&scratch, "@%s", path);
    L = lua_newstate(capped_alloc, &sb);
    if (!L) {
        err_set(err, PM_EINPUT, "cannot create a Lua state for \"%s\"", path);
        err_hint(err, "the machine is out of memory: free some and run again");
        goto done;
    }
    lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
    lua_pushcfunction(L, message_handler);
    lua_pushcfunction(L, load_and_run);
    cpu_limit_arm(path); /* until lua_close is done: it may run code too */
    armed = true;
    int status = lua_pcall(L, 0, 0, 1);
    size_t len = 0;
    const char *msg = status != LUA_OK ? lua_tolstring(L, -1, &len) : NULL;
    if (err->code != PM_OK) {
        /* a policy error was recorded (even if the policy caught it with pcall) */
    } else if (sb.out_of_memory || status == LUA_ERRMEM) {
        err_at(err, PM_EINPUT, path, 0, "policy used more than %d MiB of memory", (int)(MEMORY_LIMIT >> 20));
        err_hint(err, "a policy describes tables; it should not need big data structures");
    } else if (sb.timed_out) {
        if (msg && strstr(msg, "policy took too long"))
            lua_message_to_err(&sb, msg, len, err); /* names the line the loop was on */
        else
            err_at(err, PM_EINPUT, path, 0, "policy took too long (more than %d million instructions)",
                   (int)(INSTRUCTION_LIMIT / 1000000));
        err_hint(err, "look for an endless loop");
    } else if (status != LUA_OK) {
        if (msg)
            lua_message_to_err(&sb, msg, len, err);
        else
            err_at(err, PM_EINPUT, path, 0, "unknown Lua error");
        if (strstr(err->msg, "unknown global"))
            err_hint(err, "policies may use only Lua's base, string, table, math and utf8 libraries, plus "
                          "\"partition\" and \"defaults\"");
        else if (strstr(err->msg, "stack overflow"))
            err_hint(err, "look for a recursion without an end");
        else if (strstr(err->msg, "binary chunk") || strstr(err->msg, "attempt to load"))
            err_hint(err, "policy files must be Lua source text; precompiled chunks are refused");
        else if (strstr(err->msg, "cannot open") || strstr(err->msg, "cannot read"))
            err_hint(err, "check the policy file's path and permissions");
        else if (strstr(err->msg, " near ") || strstr(err->msg, "expected"))
            err_hint(err, "fix the Lua syntax there: an entry reads partition \"NAME\" { key = value, ... }, "
                          "with commas between the keys");
        else
            err_hint(err, "the policy's own Lua code failed there (an error() call or a runtime error): fix the "
                          "code on that line");
    } else {
        ok = true;
    }
done:
    if (L)
        lua_close(L);
    if (armed)
        cpu_limit_disarm();
    arena_free(&scratch);
    if (!ok)
        set->n = first; /* nothing half-loaded stays in the set */
    return ok;
}
