/* compile.c: `partmig compile` -- policies in, the next migration version out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../commands.h"
#include "../common/log.h"
#include "../common/buf.h"
#include "../common/err.h"
#include "../common/fs.h"
#include "../model/plan.h"
#include "planner.h"
#include "../model/policy.h"
#include "../model/sum.h"
#include "validate.h"

static void usage(FILE *out)
{
    fputs("usage: partmig compile [POLICY_FILE|DIR]... [-o DIR] [--as-of YYYY-MM-DD] [--check]\n"
          "                      [--forget TABLE]... [--allow-forget] [--relayout TABLE]...\n"
          "\n"
          "Compile Lua partition policies into the next versioned SQL migration.\n"
          "Only what changed since the migrations directory was last compiled goes into\n"
          "one new file NNNN_<name>.sql; existing files are never rewritten.\n"
          "\n"
          "  POLICY_FILE|DIR   policy files, or directories of *.lua (default: policies/)\n"
          "  -o DIR            migrations directory (default: migrations/)\n"
          "  --as-of DATE      date static range partitions are listed up to (default: today, UTC)\n"
          "  --check           write nothing; exit 2 when a new version would be written or\n"
          "                    the directory does not match partmig.sum (for CI)\n"
          "  --forget TABLE    stop managing TABLE (schema.table), whose policy was removed: its\n"
          "                    registration goes, the table and its data stay; without it a\n"
          "                    compile that would unregister a table is refused (exit 2)\n"
          "  --allow-forget    the same for every table whose policy was removed\n"
          "  --relayout TABLE  let TABLE's by, column, interval, modulus, subpartition or backend\n"
          "                    change: for a table apply refused to convert (still a plain\n"
          "                    table); apply refuses it where an earlier version partitioned it\n"
          "\n"
          "A changed start, timezone, naming, default_partition, values, columns, primary_key\n"
          "or existing compiles into a relayout version: apply converts with the new layout a\n"
          "table no earlier version converted there, and where one did carries out only what\n"
          "is online (new list partitions, DEFAULT on or off), refusing the rest with a recipe.\n"
          "  --help            this text\n"
          "\n"
          "exit codes: 0 up to date or written, 2 bad input (policy error, stale or edited migrations)\n",
          out);
}

typedef struct Options {
    const char **inputs;
    int ninputs;
    const char *out_dir;
    const char *as_of;
    bool check;
    const char **forget; /* --forget TABLE... */
    int nforget;
    bool allow_forget;
    const char **relayout; /* --relayout TABLE... */
    int nrelayout;
} Options;

/* "table" or "schema.table", each part an identifier partmig accepts. */
static bool table_name_ok(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot)
        return validate_identifier(name);
    char schema[128];
    if ((size_t)(dot - name) >= sizeof schema)
        return false;
    memcpy(schema, name, (size_t)(dot - name));
    schema[dot - name] = '\0';
    return validate_identifier(schema) && validate_identifier(dot + 1);
}

static bool parse_args(int argc, char **argv, Arena *arena, Options *o, bool *help, Err *err)
{
    o->inputs = arena_alloc(arena, sizeof *o->inputs * (size_t)(argc + 1));
    o->forget = arena_alloc(arena, sizeof *o->forget * (size_t)(argc + 1));
    o->relayout = arena_alloc(arena, sizeof *o->relayout * (size_t)(argc + 1));
    o->out_dir = "migrations";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = true;
            return true;
        } else if (!strcmp(a, "--check")) {
            o->check = true;
        } else if (!strcmp(a, "--allow-forget")) {
            o->allow_forget = true;
        } else if (!strcmp(a, "--forget") || !strcmp(a, "--relayout")) {
            if (i + 1 >= argc || !table_name_ok(argv[i + 1])) {
                err_set(err, PM_EINPUT, "compile: %s needs a table name (schema.table or table)", a);
                return err_hint(err, "for example \"partmig compile %s public.orders\"", a);
            }
            if (!strcmp(a, "--forget"))
                o->forget[o->nforget++] = argv[++i];
            else
                o->relayout[o->nrelayout++] = argv[++i];
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--as-of")) {
            if (i + 1 >= argc) {
                err_set(err, PM_EINPUT, "compile: %s needs a value", a);
                return err_hint(err, "run \"partmig compile --help\"");
            }
            if (!strcmp(a, "--as-of"))
                o->as_of = argv[++i];
            else
                o->out_dir = argv[++i];
        } else if (!strncmp(a, "--as-of=", 8)) {
            o->as_of = a + 8;
        } else if (a[0] == '-' && a[1]) {
            err_set(err, PM_EINPUT, "compile: unknown option \"%s\"", a);
            return err_hint(err, "run \"partmig compile --help\"");
        } else {
            o->inputs[o->ninputs++] = a;
        }
    }
    if (o->as_of && !validate_date(o->as_of)) {
        err_set(err, PM_EINPUT, "compile: --as-of \"%s\": expected a real date YYYY-MM-DD", o->as_of);
        return false;
    }
    if (!o->as_of) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        o->as_of = arena_printf(arena, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    }
    if (o->ninputs == 0)
        o->inputs[o->ninputs++] = "policies";
    return true;
}

/* Load every policy file named (directories: their *.lua, sorted). */
static bool load_policies(const Options *o, Arena *arena, PolicySet *set, Buf *sources, Err *err)
{
    int nfiles = 0;
    for (int i = 0; i < o->ninputs; i++) {
        const char *in = o->inputs[i];
        if (fs_is_dir(in)) {
            const char **names;
            int n;
            if (!fs_list(in, ".lua", false, arena, &names, &n, err))
                return false;
            size_t len = strlen(in);
            const char *dir = arena_strndup(arena, in, len && in[len - 1] == '/' ? len - 1 : len);
            for (int k = 0; k < n; k++) {
                const char *path = arena_printf(arena, "%s/%s", dir, names[k]);
                if (!policy_load_file(path, arena, set, err))
                    return false;
                nfiles++;
            }
            buf_printf(sources, "%s%s/*.lua", sources->len ? ", " : "", dir);
        } else {
            if (!policy_load_file(in, arena, set, err))
                return false;
            nfiles++;
            buf_printf(sources, "%s%s", sources->len ? ", " : "", in);
        }
    }
    /* no policy file at all: a wrong directory, unless the tables to stop
     * managing are named (--forget TABLE, each checked by the planner) */
    if (nfiles == 0 && o->nforget == 0) {
        err_set(err, PM_EINPUT, "no policy files (*.lua) in %s", buf_str(sources));
        return err_hint(err, "name the policy files or their directory; removing every policy at once is refused "
                             "so that a wrong directory cannot unregister all tables: to stop managing the last "
                             "ones, name each with --forget TABLE");
    }
    return policy_validate(set, err);
}

/* Fold the policy lines of the existing files into the state they record. */
static bool read_state(const char *dir, const char *const *names, int n, Arena *arena, PolicySet *old, int *last,
                       Err *err)
{
    *last = 0;
    old->items = arena_alloc(arena, sizeof *old->items * 16);
    old->cap = 16;
    for (int i = 0; i < n; i++) {
        const char *path = arena_printf(arena, "%s/%s", dir, names[i]);
        char *text;
        size_t len;
        Migration m;
        if (!fs_read_all(path, arena, &text, &len, err) || !plan_read(path, text, arena, &m, err))
            return false;
        if (m.version <= *last) {
            err_at(err, PM_EINPUT, path, 1, "version %04d does not follow %04d", m.version, *last);
            return err_hint(err, "restore the migrations directory from version control");
        }
        *last = m.version;
        for (int f = 0; f < m.nforgets; f++)
            for (int k = 0; k < old->n; k++)
                if (!strcmp(policy_qualified_name(&old->items[k], arena), m.forgets[f])) {
                    memmove(&old->items[k], &old->items[k + 1], sizeof *old->items * (size_t)(old->n - k - 1));
                    old->n--;
                    break;
                }
        for (int p = 0; p < m.npolicies; p++) {
            Policy pol;
            if (!policy_from_json(m.policies[p], arena, &pol, err)) {
                char msg[sizeof err->msg];
                snprintf(msg, sizeof msg, "%s", err->msg);
                err_at(err, PM_EINPUT, path, 0, "%s", msg);
                return false;
            }
            int k = 0;
            while (k < old->n && (strcmp(old->items[k].table, pol.table) || strcmp(old->items[k].schema, pol.schema)))
                k++;
            if (k == old->n) {
                if (old->n == old->cap) {
                    old->cap *= 2;
                    old->items = arena_grow(arena, old->items, (size_t)old->n, (size_t)old->cap, sizeof *old->items);
                }
                old->n++;
            }
            old->items[k] = pol;
        }
    }
    return true;
}

int cmd_compile(int argc, char **argv)
{
    Arena arena = {0};
    Buf sources = {0}, text = {0};
    Err err;
    err_clear(&err);
    Options o = {0};
    bool help = false;
    int rc = PM_EINPUT;
    PolicySet now = {0}, old = {0};
    const char **names = NULL;
    int nnames = 0, last = 0;

    if (!parse_args(argc, argv, &arena, &o, &help, &err))
        goto done;
    if (help) {
        usage(stdout);
        rc = PM_OK;
        goto done;
    }
    if (!load_policies(&o, &arena, &now, &sources, &err))
        goto done;
    if (!sum_verify(o.out_dir, &arena, &names, &nnames, &err))
        goto done;
    if (!read_state(o.out_dir, names, nnames, &arena, &old, &last, &err))
        goto done;

    PlanInput in = {.old = &old,
                    .now = &now,
                    .as_of = o.as_of,
                    .version = last + 1,
                    .sources = buf_str(&sources),
                    .forget = o.forget,
                    .nforget = o.nforget,
                    .allow_forget = o.allow_forget,
                    .relayout = o.relayout,
                    .nrelayout = o.nrelayout};
    Migration m;
    bool changed;
    if (!plan_build(&in, &arena, &m, &changed, &err))
        goto done;
    if (!changed) {
        log_msg(LOG_INFO, "migrations are up to date (%d polic%s, %d version%s in %s)", now.n, now.n == 1 ? "y" : "ies",
                nnames, nnames == 1 ? "" : "s", o.out_dir);
        rc = PM_OK;
        goto done;
    }
    const char *file = plan_file_name(&m, &arena);
    if (o.check) {
        err_set(&err, PM_EINPUT, "migrations in \"%s\" are stale: the policies compile to a new version \"%s\"",
                o.out_dir, file);
        err_hint(&err, "run \"partmig compile\" and commit the new file with partmig.sum");
        goto done;
    }
    plan_write(&m, &text);
    if (!fs_mkdirs(o.out_dir, &err))
        goto done;
    const char *path = arena_printf(&arena, "%s/%s", o.out_dir, file);
    if (!fs_write_atomic(path, text.data, text.len, &err))
        goto done;
    const char **all = arena_alloc(&arena, sizeof *all * (size_t)(nnames + 1));
    if (nnames)
        memcpy(all, names, sizeof *all * (size_t)nnames);
    all[nnames] = file;
    char *sum;
    if (!sum_compute(o.out_dir, all, nnames + 1, &arena, &sum, &err))
        goto done;
    const char *sum_path = arena_printf(&arena, "%s/partmig.sum", o.out_dir);
    if (!fs_write_atomic(sum_path, sum, strlen(sum), &err))
        goto done;
    printf("wrote %s (%d step%s)\n", path, m.nsteps, m.nsteps == 1 ? "" : "s");
    for (int i = 0; i < m.nsteps; i++) {
        const char *r = step_arg(&m.steps[i], "relayout");
        if (r && !strcmp(r, "yes"))
            printf("%s: relayout -- next \"partmig apply\": where no earlier version converted the table (apply "
                   "refused it), the earlier version's ensure_table is superseded and the table converted with "
                   "the new layout; where one did, only new list partitions and DEFAULT on/off are carried out, any "
                   "other layout change is refused\n",
                   m.steps[i].table);
        if (m.steps[i].action == STEP_UNREGISTER)
            printf("%s: no longer managed after \"partmig apply\" (table and data stay; --forget)\n", m.steps[i].table);
    }
    rc = PM_OK;
done:
    if (rc != PM_OK && err.code != PM_OK) {
        err_print(&err);
        rc = err.code;
    }
    validate_release();
    buf_free(&sources);
    buf_free(&text);
    arena_free(&arena);
    return rc;
}
