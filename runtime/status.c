/* status.c: partmig status [--json] -- versions applied/pending, every
 * unfinished conversion with what to run next, and per managed table its
 * partitions, gaps, DEFAULT rows, premake coverage and partitions due for
 * retention.  JSON built with jansson. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands.h"
#include "../common/buf.h"
#include "../compiler/policy.h"
#include "catalog.h"
#include "convert.h"
#include "ledger.h"
#include "migdir.h"
#include "runner.h"

static const char *const status_usage = "usage: partmig status [--db URL] [--json] [-d DIR]\n"
                                        "\n"
                                        "Show the migrations (applied, pending, rolled back), every conversion that\n"
                                        "is not finished (state, progress, age, and what to run next: apply to\n"
                                        "resume, finalize, or rollback to take the table back) and, for every table\n"
                                        "partmig manages, its partitions with bounds, estimated rows, size and\n"
                                        "tablespace, gaps between partitions, rows in the DEFAULT partition, premake\n"
                                        "coverage (partitions up to now + premake) and partitions due for retention.\n"
                                        "Pending versions need the migrations directory (-d, default migrations/ when\n"
                                        "present).  Changes nothing.\n"
                                        "\n"
                                        "  -d, --dir DIR   migrations directory (default migrations, if present)\n"
                                        "      --db URL    connection URL (else PARTMIG_DATABASE_URL, else PG* env);\n"
                                        "                  others see it in ps: give a password through\n"
                                        "                  PARTMIG_DATABASE_URL, PGPASSWORD or ~/.pgpass instead\n"
                                        "      --json      one JSON object instead of the table\n"
                                        "\n"
                                        "exit codes: 0 printed, 1 database error, 2 bad input\n";

/* Partitions at most this big are counted exactly; bigger ones use reltuples. */
#define EXACT_COUNT_BYTES (8 * 1024 * 1024)

static json_t *migrations_json(const MigDir *d, const Ledger *l)
{
    json_t *arr = json_array();
    /* every version known to the files or the ledger, in order */
    int i = 0, k = 0;
    while (i < d->n || k < l->nmigrations) {
        const MigFile *f = i < d->n ? &d->files[i] : NULL;
        const LedgerMigration *m = k < l->nmigrations ? &l->migrations[k] : NULL;
        int version;
        const char *name;
        if (f && (!m || f->m.version <= m->version)) {
            version = f->m.version;
            name = f->m.name;
            if (m && m->version == version) {
                name = m->name; /* what was applied, whatever the directory holds now */
                k++;
            } else
                m = NULL;
            i++;
        } else {
            version = m->version;
            name = m->name;
            k++;
        }
        char v[16];
        snprintf(v, sizeof v, "%04d", version);
        const char *state = !m                                 ? "pending"
                            : !strcmp(m->state, "applied")     ? "applied"
                            : !strcmp(m->state, "rolled_back") ? "rolled_back"
                                                               : "pending";
        json_t *o = json_pack("{s:s, s:s, s:s}", "version", v, "name", name, "state", state);
        if (m) {
            json_object_set_new(o, "ledger_state", json_string(m->state));
            json_object_set_new(o, "finished_at", *m->finished_at ? json_string(m->finished_at) : json_null());
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

/* The rollback target that undoes step STEP of VERSION and nothing before it. */
static const char *rollback_target(Arena *a, int version, int step)
{
    return step > 1 ? arena_printf(a, "%d:%d", version, step - 1) : arena_printf(a, "%d", version - 1);
}

/* What to run next for an unfinished conversion. */
static const char *conversion_next(Arena *a, const ConvertOpen *o)
{
    const char *back = arena_printf(a,
                                    "\"partmig rollback --to %s\" takes %s back to the plain table it was, removing "
                                    "everything the conversion made",
                                    rollback_target(a, o->version, o->step), o->table);
    if (!strcmp(o->state, "swapped") && !strcmp(o->step_state, "done"))
        return arena_printf(a, "\"partmig finalize %s\" drops the old table once verified; or %s", o->table, back);
    if (!strcmp(o->state, "swapped"))
        return arena_printf(a, "\"partmig apply\" finishes the migration, then \"partmig finalize %s\"; or %s",
                            o->table, back);
    return arena_printf(a, "\"partmig apply\" resumes it from %s; or %s", o->state, back);
}

static bool conversions_json(PgConn *c, Arena *a, json_t **out, Err *err)
{
    ConvertOpen *v = NULL;
    int n = 0;
    *out = NULL;
    if (!convert_list_open(c, a, &v, &n, err))
        return false;
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        const ConvertOpen *o = &v[i];
        json_t *j = json_pack(
            "{s:s, s:s, s:s, s:i, s:i, s:s, s:I, s:I, s:s, s:I, s:I, s:s}", "table", o->table, "method", o->method,
            "state", o->state, "version", o->version, "step", o->step, "step_state", o->step_state, "batches",
            (json_int_t)o->batches, "rows_copied", (json_int_t)o->rows_copied, "started_at", o->started_at,
            "age_seconds", (json_int_t)o->age_s, "idle_seconds", (json_int_t)o->idle_s, "next", conversion_next(a, o));
        json_object_set_new(j, "rows_estimate", o->rows_estimate >= 0 ? json_integer(o->rows_estimate) : json_null());
        json_object_set_new(j, "change_log_rows",
                            o->change_log_rows >= 0 ? json_integer(o->change_log_rows) : json_null());
        json_object_set_new(j, "rollback_to", json_string(rollback_target(a, o->version, o->step)));
        json_array_append_new(arr, j);
    }
    *out = arr;
    return true;
}

static void print_age(long long s)
{
    if (s >= 86400)
        printf("%lldd %lldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        printf("%lldh %lldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        printf("%lldm %llds", s / 60, s % 60);
    else
        printf("%llds", s);
}

static void print_conversions(json_t *convs)
{
    size_t i;
    json_t *o;
    if (!json_array_size(convs))
        return;
    printf("\nconversions not finished:\n");
    json_array_foreach(convs, i, o)
    {
        json_t *est = json_object_get(o, "rows_estimate"), *log = json_object_get(o, "change_log_rows");
        printf("  %s: %s conversion, state %s (step %04lld:%lld, %s)\n", json_string_value(json_object_get(o, "table")),
               json_string_value(json_object_get(o, "method")), json_string_value(json_object_get(o, "state")),
               (long long)json_integer_value(json_object_get(o, "version")),
               (long long)json_integer_value(json_object_get(o, "step")),
               *json_string_value(json_object_get(o, "step_state"))
                   ? json_string_value(json_object_get(o, "step_state"))
                   : "not recorded");
        printf("    progress: %lld batch(es), %lld row(s) copied of about ",
               (long long)json_integer_value(json_object_get(o, "batches")),
               (long long)json_integer_value(json_object_get(o, "rows_copied")));
        if (json_is_integer(est))
            printf("%lld", (long long)json_integer_value(est));
        else
            printf("?");
        if (json_is_integer(log))
            printf("; about %lld changed key(s) waiting in its change log", (long long)json_integer_value(log));
        printf("\n    started %s (", json_string_value(json_object_get(o, "started_at")));
        print_age(json_integer_value(json_object_get(o, "age_seconds")));
        printf(" ago), last progress ");
        print_age(json_integer_value(json_object_get(o, "idle_seconds")));
        printf(" ago\n    next: %s\n", json_string_value(json_object_get(o, "next")));
    }
}

/* One managed table's section. */
static bool table_json(PgConn *c, const char *qualified, const char *policy_json, Arena *arena, json_t **out, Err *err)
{
    const char *schema, *table;
    runner_split(qualified, arena, &schema, &table);
    Policy p;
    bool have_policy = policy_json && policy_from_json(policy_json, arena, &p, err);
    err_clear(err);
    TableInfo ti;
    if (!catalog_table_info(c, schema, table, arena, &ti, err))
        return false;
    json_t *o = json_object();
    *out = o;
    json_object_set_new(o, "table", json_string(qualified));
    json_object_set_new(o, "exists", json_boolean(ti.exists));
    json_object_set_new(o, "partitioned", json_boolean(ti.relkind == 'p'));
    json_object_set_new(o, "partition_key", json_string(ti.key));
    json_t *parts = json_array();
    json_object_set_new(o, "partitions", parts);
    json_t *gaps = json_array();
    json_t *due = json_array();
    int64_t default_rows = 0;
    bool has_default = false;
    if (ti.relkind != 'p') {
        json_object_set_new(o, "default_rows", json_integer(0));
        json_object_set_new(o, "gaps", gaps);
        json_object_set_new(o, "retention_due", due);
        json_object_set_new(o, "premake", json_null());
        return true;
    }
    PartInfo *pi = NULL;
    int n = 0;
    if (!catalog_partitions(c, schema, table, arena, &pi, &n, err))
        return false;
    bool time_range = ti.strategy == 'r' && have_policy && p.by == PART_RANGE && p.interval.unit != UNIT_INTEGER &&
                      p.interval.unit != UNIT_NONE;
    const char *now = "", *cutoff = NULL;
    if (time_range) {
        if (!catalog_now_in_zone(c, p.timezone, arena, &now, err))
            return false;
        if (p.retention.set) {
            WallTime t;
            walltime_parse(now, &t);
            Buf b = {0};
            walltime_format(&b, interval_add(p.retention.keep, t, -1));
            cutoff = arena_strdup(arena, buf_str(&b));
            buf_free(&b);
        }
    }
    const char *prev_to = NULL, *covered = NULL;
    int nrange = 0;
    for (int i = 0; i < n; i++) {
        int64_t rows = pi[i].reltuples > 0 ? (int64_t)pi[i].reltuples : 0;
        if (pi[i].is_default || pi[i].bytes <= EXACT_COUNT_BYTES)
            if (!catalog_count_rows(c, pi[i].schema, pi[i].name, &rows, err))
                return false;
        json_t *po =
            json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "name", pi[i].name, "from", pi[i].from, "to", pi[i].to, "rows",
                      (json_int_t)rows, "bytes", (json_int_t)pi[i].bytes, "tablespace", pi[i].tablespace);
        json_object_set_new(po, "bound", json_string(pi[i].bound));
        json_array_append_new(parts, po);
        if (pi[i].is_default) {
            has_default = true;
            default_rows += rows;
            continue;
        }
        if (!*pi[i].from)
            continue;
        if (prev_to && strcmp(prev_to, pi[i].from) != 0)
            json_array_append_new(gaps, json_pack("{s:s, s:s}", "from", prev_to, "to", pi[i].from));
        prev_to = covered = pi[i].to;
        nrange++;
        if (cutoff && time_range && strcmp(pi[i].to, "MAXVALUE") != 0) {
            int cmp = 0;
            if (!catalog_compare_bound(c, ti.key_type, pi[i].to, cutoff, p.timezone, &cmp, err))
                return false;
            if (cmp <= 0)
                json_array_append_new(due, json_string(pi[i].name));
        }
    }
    /* never the newest partition */
    if (nrange > 0 && json_array_size(due) == (size_t)nrange)
        json_array_remove(due, json_array_size(due) - 1);
    json_object_set_new(o, "default_rows", json_integer(default_rows));
    json_object_set_new(o, "has_default", json_boolean(has_default));
    json_object_set_new(o, "gaps", gaps);
    json_object_set_new(o, "retention_due", due);
    if (time_range) {
        WallTime t;
        walltime_parse(now, &t);
        Buf b = {0};
        walltime_format(&b, interval_add(p.interval, t, p.premake));
        const char *required = arena_strdup(arena, buf_str(&b));
        buf_free(&b);
        int cmp = -1;
        if (covered && strcmp(covered, "MAXVALUE") != 0 &&
            !catalog_compare_bound(c, ti.key_type, covered, required, p.timezone, &cmp, err))
            return false;
        if (covered && !strcmp(covered, "MAXVALUE"))
            cmp = 1;
        json_object_set_new(o, "premake",
                            json_pack("{s:o, s:s, s:s, s:i, s:b}", "covered_until",
                                      covered ? json_string(covered) : json_null(), "required_until", required,
                                      "timezone", p.timezone, "premake", p.premake, "ok", cmp >= 0));
    } else
        json_object_set_new(o, "premake", json_null());
    return true;
}

static void print_human(json_t *root)
{
    json_t *migs = json_object_get(root, "migrations"), *tables = json_object_get(root, "tables");
    size_t i;
    json_t *m;
    printf("migrations:\n");
    if (!json_array_size(migs))
        printf("  (none)\n");
    json_array_foreach(migs, i, m)
    {
        const char *state = json_string_value(json_object_get(m, "state"));
        json_t *ls = json_object_get(m, "ledger_state"), *fin = json_object_get(m, "finished_at");
        const char *lstate = json_is_string(ls) ? json_string_value(ls) : state;
        printf("  %s  %-28s %-12s %s%s%s\n", json_string_value(json_object_get(m, "version")),
               json_string_value(json_object_get(m, "name")), state, strcmp(lstate, state) ? "ledger: " : "",
               strcmp(lstate, state) ? lstate : "",
               json_is_string(fin) && !strcmp(lstate, state) ? json_string_value(fin) : "");
    }
    print_conversions(json_object_get(root, "conversions"));
    json_t *t;
    json_array_foreach(tables, i, t)
    {
        json_t *parts = json_object_get(t, "partitions");
        printf("\n%s: %zu partition(s), %lld row(s) in DEFAULT\n", json_string_value(json_object_get(t, "table")),
               json_array_size(parts), (long long)json_integer_value(json_object_get(t, "default_rows")));
        if (!json_is_true(json_object_get(t, "partitioned"))) {
            printf("  %s\n", json_is_true(json_object_get(t, "exists")) ? "not partitioned" : "does not exist");
            continue;
        }
        json_t *pm = json_object_get(t, "premake");
        if (json_is_object(pm))
            printf("  premake: covered until %s, required until %s %s: %s\n",
                   json_is_string(json_object_get(pm, "covered_until"))
                       ? json_string_value(json_object_get(pm, "covered_until"))
                       : "(nothing)",
                   json_string_value(json_object_get(pm, "required_until")),
                   json_string_value(json_object_get(pm, "timezone")),
                   json_is_true(json_object_get(pm, "ok")) ? "ok" : "MISSING (run partmig maintain)");
        json_t *gaps = json_object_get(t, "gaps"), *due = json_object_get(t, "retention_due");
        size_t k;
        json_t *g;
        printf("  gaps: %s", json_array_size(gaps) ? "" : "none");
        json_array_foreach(gaps, k, g)
            printf("%s[%s, %s)", k ? ", " : "", json_string_value(json_object_get(g, "from")),
                   json_string_value(json_object_get(g, "to")));
        printf("\n  due for retention: %s", json_array_size(due) ? "" : "none");
        json_array_foreach(due, k, g) printf("%s%s", k ? ", " : "", json_string_value(g));
        printf("\n  %-32s %-26s %-26s %10s %12s  %s\n", "partition", "from", "to", "rows", "bytes", "tablespace");
        json_t *pt;
        json_array_foreach(parts, k, pt)
        {
            const char *from = json_string_value(json_object_get(pt, "from"));
            printf("  %-32s %-26s %-26s %10lld %12lld  %s\n", json_string_value(json_object_get(pt, "name")),
                   *from ? from : json_string_value(json_object_get(pt, "bound")),
                   json_string_value(json_object_get(pt, "to")),
                   (long long)json_integer_value(json_object_get(pt, "rows")),
                   (long long)json_integer_value(json_object_get(pt, "bytes")),
                   json_string_value(json_object_get(pt, "tablespace")));
        }
    }
}

int cmd_status(int argc, char **argv)
{
    RunOptions o;
    int rc = runner_parse(argc, argv, OPT_DIR | OPT_DB | OPT_JSON, status_usage, &o);
    if (rc >= 0)
        return rc;
    Arena arena = {0};
    PgConn *c = NULL;
    json_t *root = NULL;
    MigDir dir;
    Ledger ledger;
    Err err;
    err_clear(&err);
    bool ok = false;
    if (!migdir_load(o.dir, !o.dir_given, &arena, &dir, &err) || !runner_connect(&o, &c, &err) ||
        !ledger_load(c, &arena, &ledger, &err))
        goto done;
    root = json_object();
    json_object_set_new(root, "migrations", migrations_json(&dir, &ledger));
    json_t *tables = json_array();
    json_object_set_new(root, "tables", tables);
    json_t *convs = json_array();
    if (ledger.exists) {
        json_decref(convs);
        if (!conversions_json(c, &arena, &convs, &err))
            goto done;
    }
    json_object_set_new(root, "conversions", convs);
    if (ledger.exists) {
        const char **names = NULL, **jsons = NULL;
        int n = 0;
        if (!ledger_policies(c, &arena, &names, &jsons, &n, &err))
            goto done;
        for (int i = 0; i < n; i++) {
            json_t *t = NULL;
            bool tok = table_json(c, names[i], jsons[i], &arena, &t, &err);
            if (t)
                json_array_append_new(tables, t);
            if (!tok)
                goto done;
        }
    }
    if (o.json) {
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        if (text)
            puts(text);
        free(text);
    } else
        print_human(root);
    ok = true;
done:
    rc = ok ? PM_OK : runner_fail(&err);
    json_decref(root);
    pg_close(c);
    arena_free(&arena);
    return rc;
}
