/* status_report.c: what `partmig status` makes of its model -- the text
 * view, the Nagios-style --check (problems, severities, exit code) and the
 * OpenMetrics text format -- plus the time helpers they use. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/buf.h"
#include "../model/interval.h"
#include "status.h"

const char *status_rfc3339(Arena *arena, double epoch)
{
    time_t t = (time_t)epoch;
    struct tm tm;
    char text[40];
    if (!gmtime_r(&t, &tm) || !strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm))
        return "";
    return arena_strdup(arena, text);
}

/* Unix seconds of "YYYY-MM-DDTHH:MM:SSZ" (as status_rfc3339 writes it), -1 otherwise. */
static double rfc3339_epoch(const char *text)
{
    int y, mo, d, h, mi, s;
    if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &s) != 6)
        return -1;
    return (double)days_from_civil(y, mo, d) * 86400.0 + h * 3600.0 + mi * 60.0 + s;
}

long long status_parse_duration(const char *text)
{
    char *end;
    if (!text || !isdigit((unsigned char)*text))
        return -1;
    long long n = strtoll(text, &end, 10);
    long long unit = !*end               ? 1
                     : !strcmp(end, "s") ? 1
                     : !strcmp(end, "m") ? 60
                     : !strcmp(end, "h") ? 3600
                     : !strcmp(end, "d") ? 86400
                     : !strcmp(end, "w") ? 604800
                                         : 0;
    if (!unit || n < 0 || n > 100LL * 365 * 86400 / unit)
        return -1;
    return n * unit;
}

/* "3d 4h", "5h 2m", "7m 3s", "12s" */
static void age_text(char *out, size_t n, long long s)
{
    if (s >= 86400)
        snprintf(out, n, "%lldd %lldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(out, n, "%lldh %lldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(out, n, "%lldm %llds", s / 60, s % 60);
    else
        snprintf(out, n, "%llds", s);
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static long long num(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* ---- --check ---- */

typedef struct Check {
    json_t *problems;
    int code;
} Check;

static void problem(Check *k, int severity, const char *table, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void problem(Check *k, int severity, const char *table, const char *check, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(k->problems, json_pack("{s:s, s:s, s:s, s:s}", "severity",
                                                 severity == CHECK_CRITICAL ? "CRITICAL" : "WARNING", "table", table,
                                                 "check", check, "message", msg));
    if (severity > k->code)
        k->code = severity;
}

static bool has_open_conversion(json_t *root, const char *table)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(root, "conversions"), i, c) if (!strcmp(str(c, "table"), table)) return true;
    return false;
}

static void check_table(Check *k, json_t *root, json_t *t, const StatusThresholds *th)
{
    const char *name = str(t, "table");
    char age[64];
    if (!json_is_true(json_object_get(t, "partitioned"))) {
        if (!has_open_conversion(root, name))
            problem(k, CHECK_WARNING, name, "table", "%s; run \"partmig apply\"",
                    json_is_true(json_object_get(t, "exists")) ? "not partitioned" : "does not exist");
        return;
    }
    json_t *pm = json_object_get(t, "premake");
    if (json_is_object(pm)) {
        if (!json_is_true(json_object_get(pm, "now_covered")))
            problem(k, CHECK_CRITICAL, name, "premake",
                    "no partition holds the current time: new rows %s; run \"partmig maintain\"",
                    json_is_true(json_object_get(t, "has_default")) ? "go to DEFAULT" : "fail");
        else if (!json_is_true(json_object_get(pm, "unbounded")) && num(pm, "coverage_intervals") < th->premake_warn)
            problem(k, CHECK_WARNING, name, "premake",
                    "partitions cover %lld interval(s) of %s ahead of now (until %s), fewer than %d; run "
                    "\"partmig maintain\"",
                    num(pm, "coverage_intervals"), str(pm, "interval"), str(pm, "covered_until"), th->premake_warn);
    }
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(t, "gaps"), i, g)
        problem(k, CHECK_WARNING, name, "gap", "no partition from %s to %s", str(g, "from"), str(g, "to"));
    long long def = num(t, "default_rows");
    if (def > th->default_rows_warn)
        problem(k, CHECK_WARNING, name, "default",
                "%lld row(s) in DEFAULT partition %s; \"partmig maintain "
                "--drain-default\" moves them",
                def, str(t, "default_partition"));
    json_t *ret = json_object_get(t, "retention");
    if (json_is_integer(json_object_get(ret, "oldest_due_seconds")) &&
        num(ret, "oldest_due_seconds") > th->retention_overdue) {
        age_text(age, sizeof age, num(ret, "oldest_due_seconds"));
        problem(k, CHECK_WARNING, name, "retention",
                "%lld partition(s) due for retention (keep %s), the oldest for %s; run \"partmig maintain\"",
                num(ret, "due"), str(ret, "keep"), age);
    }
    json_t *m = json_object_get(t, "maintain");
    if (json_is_object(m)) {
        bool never = !json_is_integer(json_object_get(m, "last_ok_seconds"));
        long long since = never ? num(m, "registered_seconds") : num(m, "last_ok_seconds");
        age_text(age, sizeof age, since);
        int sev = since > th->maintain_crit ? CHECK_CRITICAL : since > th->maintain_warn ? CHECK_WARNING : CHECK_OK;
        if (sev && never)
            problem(k, sev, name, "maintain",
                    "no successful \"partmig maintain\" since the policy was registered %s ago", age);
        else if (sev)
            problem(k, sev, name, "maintain", "the last successful \"partmig maintain\" was %s ago (%s)", age,
                    str(m, "last_ok_at"));
        if (!strcmp(str(m, "last_result"), "failed"))
            problem(k, CHECK_WARNING, name, "maintain", "the last \"partmig maintain\" run failed (started %s): %s",
                    str(m, "last_started_at"), str(m, "last_error"));
    }
}

json_t *status_check(json_t *root, const StatusThresholds *th)
{
    Check k = {json_array(), CHECK_OK};
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(root, "tables"), i, t) check_table(&k, root, t, th);
    /* no runner at work: an unfinished conversion or migration was
     * interrupted (killed, or the connection lost) and waits for a person */
    bool running = json_is_true(json_object_get(json_object_get(root, "runner"), "running"));
    json_array_foreach(json_object_get(root, "conversions"), i, t)
    {
        char age[64];
        long long idle = num(t, "idle_seconds");
        age_text(age, sizeof age, idle);
        if (json_is_true(json_object_get(t, "waiting_for_finalize"))) {
            if (idle > th->finalize_warn)
                problem(&k, CHECK_WARNING, str(t, "table"), "conversion",
                        "converted and swapped %s ago, waiting for \"partmig finalize %s\" (the old table and the "
                        "undo log stay until then)",
                        age, str(t, "table"));
        } else if (!running)
            problem(&k, CHECK_WARNING, str(t, "table"), "interrupted",
                    "conversion interrupted in state %s (migration %04lld), no partmig runner is at work on it, "
                    "last progress %s ago: %s",
                    str(t, "state"), num(t, "version"), age, str(t, "next"));
        else if (idle > th->stalled_warn)
            problem(&k, CHECK_WARNING, str(t, "table"), "conversion",
                    "conversion unfinished in state %s, no progress for %s: %s", str(t, "state"), age, str(t, "next"));
    }
    json_array_foreach(json_object_get(root, "migrations"), i, t)
    {
        const char *ls = str(t, "ledger_state");
        long long version = strtoll(str(t, "version"), NULL, 10);
        if (running || (strcmp(ls, "running") && strcmp(ls, "failed")))
            continue;
        /* a conversion of this version already said what to run */
        bool told = false;
        size_t j;
        json_t *cv;
        json_array_foreach(json_object_get(root, "conversions"), j, cv) told |=
            num(cv, "version") == version && !json_is_true(json_object_get(cv, "waiting_for_finalize"));
        if (told)
            continue;
        char label[64];
        snprintf(label, sizeof label, "migration %s", str(t, "version"));
        problem(&k, CHECK_WARNING, label, "interrupted",
                "%s %s, no partmig runner is at work on it: \"partmig apply\" finishes it, or \"partmig rollback "
                "--to %lld\" takes it back",
                str(t, "name"), !strcmp(ls, "failed") ? "failed" : "interrupted (ledger state running)", version - 1);
    }
    static const char *const names[] = {"OK", "WARNING", "CRITICAL"};
    json_t *sum = json_object_get(root, "summary");
    int crit = 0, warn = 0;
    json_array_foreach(k.problems, i, t)
    {
        if (!strcmp(str(t, "severity"), "CRITICAL"))
            crit++;
        else
            warn++;
    }
    char summary[1400];
    if (!crit && !warn)
        snprintf(summary, sizeof summary, "%lld table(s), %lld partition(s), no problem", num(sum, "tables"),
                 num(sum, "partitions"));
    else
        /* the first problem of the worst severity names the summary */
        for (size_t j = 0; j < json_array_size(k.problems); j++) {
            json_t *p = json_array_get(k.problems, j);
            if (!strcmp(str(p, "severity"), names[k.code])) {
                snprintf(summary, sizeof summary, "%d critical, %d warning(s) on %lld table(s); %s: %s", crit, warn,
                         num(sum, "tables"), str(p, "table"), str(p, "message"));
                break;
            }
        }
    return json_pack("{s:s, s:i, s:s, s:o}", "status", names[k.code], "code", k.code, "summary", summary, "problems",
                     k.problems);
}

void status_print_check(json_t *check)
{
    json_t *root_summary = json_object_get(check, "summary");
    printf("PARTMIG %s - %s\n", str(check, "status"), json_string_value(root_summary));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(check, "problems"), i, p)
        printf("%s %s: %s\n", str(p, "severity"), str(p, "table"), str(p, "message"));
}

/* ---- OpenMetrics ---- */

/* A metric family: its samples are printed under one # TYPE/# HELP. */
typedef struct Family {
    const char *name, *help, *unit; /* unit: NULL or "seconds" (the name ends in _seconds) */
    Buf samples;
} Family;

static void label_value(Buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            buf_append(b, "\\n");
        else
            buf_putc(b, *v);
    }
}

/* One sample of F with labels schema, table (and STATE when not NULL). */
static void sample(Family *f, const char *schema, const char *table, const char *state, double value)
{
    buf_printf(&f->samples, "%s{schema=\"", f->name);
    label_value(&f->samples, schema);
    buf_append(&f->samples, "\",table=\"");
    label_value(&f->samples, table);
    if (state) {
        buf_append(&f->samples, "\",state=\"");
        label_value(&f->samples, state);
    }
    if (value == (double)(long long)value)
        buf_printf(&f->samples, "\"} %lld\n", (long long)value);
    else
        buf_printf(&f->samples, "\"} %.3f\n", value);
}

static void family_print(Family *f)
{
    printf("# TYPE %s gauge\n", f->name);
    if (f->unit)
        printf("# UNIT %s %s\n", f->name, f->unit);
    printf("# HELP %s %s\n", f->name, f->help);
    fputs(buf_str(&f->samples), stdout);
    buf_free(&f->samples);
}

/* "schema.table" split at the first dot. */
static void split(const char *q, char *schema, size_t ns, const char **table)
{
    const char *dot = strchr(q, '.');
    if (!dot) {
        snprintf(schema, ns, "public");
        *table = q;
        return;
    }
    snprintf(schema, ns, "%.*s", (int)(dot - q), q);
    *table = dot + 1;
}

enum {
    F_PARTITIONS,
    F_AHEAD,
    F_COVER_INTERVALS,
    F_COVER_SECONDS,
    F_PREMAKE_OK,
    F_DEFAULT_ROWS,
    F_GAPS,
    F_DUE,
    F_DUE_SECONDS,
    F_MAINTAIN_TIME,
    F_MAINTAIN_OK_TIME,
    F_MAINTAIN_RESULT,
    F_CONV_STATE,
    F_CONV_COPIED,
    F_CONV_ESTIMATE,
    F_CONV_FINALIZE,
    F_CONV_IDLE,
    F_COUNT
};

static const char *const conversion_states[] = {"none",        "preflight", "shadow_created", "mirroring",
                                                "backfilling", "verified",  "swapped"};

void status_print_openmetrics(json_t *root)
{
    Family f[F_COUNT] = {
        [F_PARTITIONS] = {"partmig_partitions", "Partitions attached to the table, DEFAULT included.", NULL, {0}},
        [F_AHEAD] = {"partmig_partitions_ahead", "Range partitions that start after now.", NULL, {0}},
        [F_COVER_INTERVALS] = {"partmig_premake_coverage_intervals",
                               "Whole policy intervals covered by partitions from now on, without a gap.",
                               NULL,
                               {0}},
        [F_COVER_SECONDS] = {"partmig_premake_coverage_seconds",
                             "Time from now to the end of the partitions that cover now without a gap.",
                             "seconds",
                             {0}},
        [F_PREMAKE_OK] = {"partmig_premake_ok",
                          "1 when partitions cover now plus the policy's premake intervals.",
                          NULL,
                          {0}},
        [F_DEFAULT_ROWS] = {"partmig_default_rows", "Rows in the DEFAULT partition (exact).", NULL, {0}},
        [F_GAPS] = {"partmig_gaps", "Gaps between consecutive range partitions.", NULL, {0}},
        [F_DUE] = {"partmig_retention_due_partitions",
                   "Partitions due for retention (the retention backlog).",
                   NULL,
                   {0}},
        [F_DUE_SECONDS] = {"partmig_retention_oldest_due_seconds",
                           "How long the oldest partition due for retention has been due.",
                           "seconds",
                           {0}},
        [F_MAINTAIN_TIME] = {"partmig_last_maintain_timestamp_seconds",
                             "When the last partmig maintain run of the table started, unix time.",
                             "seconds",
                             {0}},
        [F_MAINTAIN_OK_TIME] = {"partmig_last_maintain_success_timestamp_seconds",
                                "When the last successful partmig maintain run of the table ended, unix time.",
                                "seconds",
                                {0}},
        [F_MAINTAIN_RESULT] = {"partmig_last_maintain_success",
                               "1 when the last partmig maintain run of the table succeeded, 0 when it failed or runs.",
                               NULL,
                               {0}},
        [F_CONV_STATE] = {"partmig_conversion_state",
                          "1 for the state of the table's unfinished conversion (none: no conversion open).",
                          NULL,
                          {0}},
        [F_CONV_COPIED] = {"partmig_conversion_rows_copied", "Rows the unfinished conversion has copied.", NULL, {0}},
        [F_CONV_ESTIMATE] = {"partmig_conversion_rows_estimate",
                             "Rows of the table being converted (planner estimate).",
                             NULL,
                             {0}},
        [F_CONV_FINALIZE] = {"partmig_conversion_waiting_for_finalize",
                             "1 when the conversion is swapped and waits for partmig finalize.",
                             NULL,
                             {0}},
        [F_CONV_IDLE] = {"partmig_conversion_idle_seconds",
                         "Time since the conversion last made progress.",
                         "seconds",
                         {0}},
    };
    json_t *tables = json_object_get(root, "tables"), *convs = json_object_get(root, "conversions");
    size_t i;
    json_t *t;
    char schema[128];
    const char *table;
    json_array_foreach(tables, i, t)
    {
        split(str(t, "table"), schema, sizeof schema, &table);
        sample(&f[F_PARTITIONS], schema, table, NULL, (double)json_array_size(json_object_get(t, "partitions")));
        if (json_is_true(json_object_get(t, "partitioned"))) {
            sample(&f[F_DEFAULT_ROWS], schema, table, NULL, (double)num(t, "default_rows"));
            sample(&f[F_GAPS], schema, table, NULL, (double)json_array_size(json_object_get(t, "gaps")));
        }
        json_t *pm = json_object_get(t, "premake");
        if (json_is_object(pm)) {
            sample(&f[F_AHEAD], schema, table, NULL, (double)num(pm, "partitions_ahead"));
            if (json_is_integer(json_object_get(pm, "coverage_intervals"))) {
                sample(&f[F_COVER_INTERVALS], schema, table, NULL, (double)num(pm, "coverage_intervals"));
                sample(&f[F_COVER_SECONDS], schema, table, NULL, (double)num(pm, "coverage_seconds"));
            }
            sample(&f[F_PREMAKE_OK], schema, table, NULL, json_is_true(json_object_get(pm, "ok")));
        }
        json_t *ret = json_object_get(t, "retention");
        if (json_is_object(ret)) {
            sample(&f[F_DUE], schema, table, NULL, (double)num(ret, "due"));
            json_t *s = json_object_get(ret, "oldest_due_seconds");
            sample(&f[F_DUE_SECONDS], schema, table, NULL, json_is_integer(s) ? (double)json_integer_value(s) : 0);
        }
        json_t *m = json_object_get(t, "maintain");
        if (json_is_object(m) && json_is_string(json_object_get(m, "last_result"))) {
            sample(&f[F_MAINTAIN_TIME], schema, table, NULL, rfc3339_epoch(str(m, "last_started_at")));
            sample(&f[F_MAINTAIN_RESULT], schema, table, NULL, !strcmp(str(m, "last_result"), "ok"));
            if (json_is_string(json_object_get(m, "last_ok_at")))
                sample(&f[F_MAINTAIN_OK_TIME], schema, table, NULL, rfc3339_epoch(str(m, "last_ok_at")));
        }
        json_t *conv = NULL, *c;
        size_t k;
        json_array_foreach(convs, k, c) if (!strcmp(str(c, "table"), str(t, "table"))) conv = c;
        for (size_t s = 0; s < sizeof conversion_states / sizeof *conversion_states; s++)
            sample(&f[F_CONV_STATE], schema, table, conversion_states[s],
                   conv ? !strcmp(str(conv, "state"), conversion_states[s]) : s == 0);
    }
    json_array_foreach(convs, i, t)
    {
        split(str(t, "table"), schema, sizeof schema, &table);
        sample(&f[F_CONV_COPIED], schema, table, NULL, (double)num(t, "rows_copied"));
        if (json_is_integer(json_object_get(t, "rows_estimate")))
            sample(&f[F_CONV_ESTIMATE], schema, table, NULL, (double)num(t, "rows_estimate"));
        sample(&f[F_CONV_FINALIZE], schema, table, NULL, json_is_true(json_object_get(t, "waiting_for_finalize")));
        sample(&f[F_CONV_IDLE], schema, table, NULL, (double)num(t, "idle_seconds"));
    }
    json_t *sum = json_object_get(root, "summary");
    printf("# TYPE partmig_tables gauge\n# HELP partmig_tables Tables whose policy is registered in the ledger.\n"
           "partmig_tables %lld\n",
           num(sum, "tables"));
    printf("# TYPE partmig_conversions_unfinished gauge\n# HELP partmig_conversions_unfinished Conversions neither "
           "finalized nor rolled back.\npartmig_conversions_unfinished %lld\n",
           num(sum, "conversions_unfinished"));
    for (int k = 0; k < F_COUNT; k++)
        family_print(&f[k]);
    printf("# EOF\n");
}

/* ---- the text view ---- */

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

static void print_conversions(json_t *convs, bool running)
{
    size_t i;
    json_t *o;
    if (!json_array_size(convs))
        return;
    printf("\nconversions not finished:\n");
    json_array_foreach(convs, i, o)
    {
        json_t *est = json_object_get(o, "rows_estimate"), *log = json_object_get(o, "change_log_rows");
        json_t *undo = json_object_get(o, "undo_log_rows");
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
        if (json_is_integer(undo))
            printf("; about %lld key(s) deleted or moved since the swap in its undo log (rollback re-copies them, "
                   "and the rows inserted or updated since)",
                   (long long)json_integer_value(undo));
        printf("\n    started %s (", json_string_value(json_object_get(o, "started_at")));
        print_age(json_integer_value(json_object_get(o, "age_seconds")));
        printf(" ago), last progress ");
        print_age(json_integer_value(json_object_get(o, "idle_seconds")));
        printf(" ago\n");
        if (!running && !json_is_true(json_object_get(o, "waiting_for_finalize")))
            printf("    interrupted: no partmig runner is at work on it\n");
        printf("    next: %s\n", json_string_value(json_object_get(o, "next")));
    }
}

/* N with thousands separators ("1,234,567"), "~" before it when ESTIMATE. */
static const char *rows_text(char *out, size_t size, long long n, bool estimate)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", n < 0 ? -n : n);
    size_t len = strlen(digits), o = 0;
    if (estimate && o + 1 < size)
        out[o++] = '~';
    if (n < 0 && o + 1 < size)
        out[o++] = '-';
    for (size_t i = 0; i < len && o + 1 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 2 < size)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return out;
}

void status_print_human(json_t *root)
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
    print_conversions(json_object_get(root, "conversions"),
                      json_is_true(json_object_get(json_object_get(root, "runner"), "running")));
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
        if (json_is_object(pm) && json_is_integer(json_object_get(pm, "coverage_intervals")))
            printf("  coverage: %lld interval(s) of %s ahead of now, %lld partition(s) ahead\n",
                   (long long)json_integer_value(json_object_get(pm, "coverage_intervals")),
                   json_string_value(json_object_get(pm, "interval")),
                   (long long)json_integer_value(json_object_get(pm, "partitions_ahead")));
        json_t *mt = json_object_get(t, "maintain");
        json_t *res = json_object_get(mt, "last_result");
        if (json_is_string(res))
            printf("  last maintain: %s, started %s%s%s\n", json_string_value(res),
                   json_string_value(json_object_get(mt, "last_started_at")),
                   json_is_string(json_object_get(mt, "last_error")) ? ": " : "",
                   json_is_string(json_object_get(mt, "last_error"))
                       ? json_string_value(json_object_get(mt, "last_error"))
                       : "");
        else
            printf("  last maintain: never\n");
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
        bool estimates = false;
        json_array_foreach(parts, k, pt)
        {
            const char *from = json_string_value(json_object_get(pt, "from"));
            bool estimate = !json_is_true(json_object_get(pt, "rows_exact"));
            char rows[40];
            estimates |= estimate;
            printf("  %-32s %-26s %-26s %10s %12lld  %s\n", json_string_value(json_object_get(pt, "name")),
                   *from ? from : json_string_value(json_object_get(pt, "bound")),
                   json_string_value(json_object_get(pt, "to")),
                   rows_text(rows, sizeof rows, (long long)json_integer_value(json_object_get(pt, "rows")), estimate),
                   (long long)json_integer_value(json_object_get(pt, "bytes")),
                   json_string_value(json_object_get(pt, "tablespace")));
        }
        if (estimates)
            printf("  ~ rows: the planner's estimate (pg_class.reltuples, as of the last ANALYZE) for a partition "
                   "over %d MB; the other rows are exact counts\n",
                   EXACT_COUNT_BYTES / (1024 * 1024));
    }
}
