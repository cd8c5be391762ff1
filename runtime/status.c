/* status.c: partmig status -- versions applied/pending, every unfinished
 * conversion with what to run next, and per managed table its partitions,
 * gaps, DEFAULT rows, premake coverage, retention backlog and last
 * maintain run; as text, JSON, OpenMetrics, or a Nagios-style --check.
 * Everything is read in a fixed number of queries, whatever the partition
 * count.  JSON built with jansson (the model status_report.c judges). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands.h"
#include "../common/log.h"
#include "../common/buf.h"
#include "../model/policy.h"
#include "catalog.h"
#include "convert.h"
#include "ledger.h"
#include "migdir.h"
#include "runner.h"
#include "status.h"

static const char *const status_usage =
    "usage: partmig status [--db URL] [-d DIR] [--json | --format text|json|openmetrics]\n"
    "                      [--check [THRESHOLDS]]\n"
    "\n"
    "Show the migrations (applied, pending, rolled back), every conversion that\n"
    "is not finished (state, progress, age, and what to run next: apply to\n"
    "resume, finalize, or rollback to take the table back) and, for every table\n"
    "partmig manages, its partitions with bounds, rows (exact up to 8 MB a\n"
    "partition, else the planner's estimate, shown as ~N; DEFAULT always\n"
    "exact), size and tablespace, gaps between partitions, rows in the DEFAULT\n"
    "partition, premake coverage (partitions from now on, in intervals and\n"
    "seconds), partitions due for retention and the last `partmig maintain`\n"
    "run.  Pending versions need the migrations directory (-d, default\n"
    "migrations/ when present).  Changes nothing.  Times in JSON are RFC 3339\n"
    "in UTC.\n"
    "\n"
    "  -d, --dir DIR         migrations directory (default migrations, if present)\n"
    "      --db URL          connection URL (else PARTMIG_DATABASE_URL, else PG* env);\n"
    "                        others see it in ps: give a password through\n"
    "                        PARTMIG_DATABASE_URL, PGPASSWORD or ~/.pgpass instead\n"
    "      --json            one JSON object instead of the table (--format json)\n"
    "      --format FORMAT   text (default), json, or openmetrics (the OpenMetrics\n"
    "                        text format, for node_exporter's textfile collector)\n"
    "      --check           alert like a Nagios plugin: print \"PARTMIG OK|WARNING|\n"
    "                        CRITICAL - summary\" and a line per problem (with\n"
    "                        --json: a \"check\" object), exit 0 ok, 1 warning,\n"
    "                        2 critical, 3 unknown (status could not be read)\n"
    "\n"
    "thresholds of --check (DURATION: N seconds, or Ns, Nm, Nh, Nd, Nw):\n"
    "      --premake-warn N          warning when fewer than N whole intervals are\n"
    "                                covered by partitions from now on (default 1);\n"
    "                                critical when no partition holds now\n"
    "      --default-rows-warn N     warning when DEFAULT holds more than N rows\n"
    "                                (default 0)\n"
    "      --finalize-warn DURATION  warning when a swapped conversion waits for\n"
    "                                \"partmig finalize\" longer (default 7d)\n"
    "      --stalled-warn DURATION   warning when an unfinished conversion made no\n"
    "                                progress for longer (default 1h)\n"
    "      --retention-overdue DURATION\n"
    "                                warning when a partition is due for retention\n"
    "                                for longer (default 2d)\n"
    "      --maintain-warn DURATION  warning when a table's last successful\n"
    "                                maintain (or its registration, when never)\n"
    "                                is older (default 36h); also when the last\n"
    "                                maintain run failed\n"
    "      --maintain-crit DURATION  critical when older (default 72h)\n"
    "a gap between partitions is a warning.\n"
    "\n"
    "exit codes: 0 printed, 1 database error, 2 bad input; with --check: 0 ok,\n"
    "1 warning, 2 critical, 3 unknown\n";

/* A server timestamptz as text in the session's UTC ("2026-05-01
 * 12:00:00.123+00") as RFC 3339 ("2026-05-01T12:00:00.123Z"); "" stays "". */
static const char *pg_time_rfc3339(Arena *a, const char *text)
{
    size_t n = strlen(text);
    if (n < 19)
        return text;
    Buf b = {0};
    buf_printf(&b, "%.10sT%s", text, text + 11);
    char *s = b.data;
    size_t len = b.len;
    /* the offset: "+00" -> "Z", "+05" -> "+05:00", "+05:30" stays */
    char *off = NULL;
    for (size_t i = 19; i < len; i++)
        if (s[i] == '+' || s[i] == '-')
            off = s + i;
    const char *r;
    if (off && !strcmp(off, "+00"))
        r = arena_printf(a, "%.*sZ", (int)(off - s), s);
    else if (off && strlen(off) == 3)
        r = arena_printf(a, "%s:00", s);
    else
        r = arena_strdup(a, s);
    buf_free(&b);
    return r;
}
static json_t *migrations_json(Arena *a, const MigDir *d, const Ledger *l)
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
            json_object_set_new(o, "finished_at",
                                *m->finished_at ? json_string(pg_time_rfc3339(a, m->finished_at)) : json_null());
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
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:i, s:i, s:s, s:I, s:I, s:s, s:I, s:I, s:s}", "table", o->table, "method",
                      o->method, "state", o->state, "version", o->version, "step", o->step, "step_state", o->step_state,
                      "batches", (json_int_t)o->batches, "rows_copied", (json_int_t)o->rows_copied, "started_at",
                      pg_time_rfc3339(a, o->started_at), "age_seconds", (json_int_t)o->age_s, "idle_seconds",
                      (json_int_t)o->idle_s, "next", conversion_next(a, o));
        json_object_set_new(j, "rows_estimate", o->rows_estimate >= 0 ? json_integer(o->rows_estimate) : json_null());
        json_object_set_new(j, "change_log_rows",
                            o->change_log_rows >= 0 ? json_integer(o->change_log_rows) : json_null());
        json_object_set_new(j, "undo_log_rows", o->undo_log_rows >= 0 ? json_integer(o->undo_log_rows) : json_null());
        json_object_set_new(j, "rollback_to", json_string(rollback_target(a, o->version, o->step)));
        /* swapped and its step done: only "partmig finalize" is left */
        json_object_set_new(j, "waiting_for_finalize",
                            json_boolean(!strcmp(o->state, "swapped") && !strcmp(o->step_state, "done")));
        json_object_set_new(j, "progress",
                            o->rows_estimate > 0 ? json_real(o->rows_copied >= o->rows_estimate
                                                                 ? 1.0
                                                                 : (double)o->rows_copied / (double)o->rows_estimate)
                                                 : json_null());
        json_array_append_new(arr, j);
    }
    *out = arr;
    return true;
}

/* Seconds from 1970-01-01 00:00 to wall time W (no zone: differences of
 * two such values are wall-clock spans, exact but for DST shifts). */
static long long wall_seconds(WallTime w)
{
    return (long long)days_from_civil(w.year, w.month, w.day) * 86400LL + w.hour * 3600LL;
}

/* "YYYY-MM-DD HH24:MI:SS" to the hour (walltime_parse takes whole hours). */
static WallTime wall_hour(const char *text)
{
    WallTime w = {1970, 1, 1, 0};
    char hour[16];
    snprintf(hour, sizeof hour, "%.13s", text);
    walltime_parse(hour, &w);
    return w;
}

/* TEXT to the hour, rounded up: 00:06 reads as 01:00. */
static WallTime wall_hour_up(const char *text)
{
    WallTime w = wall_hour(text);
    if (strlen(text) > 13 && strncmp(text + 13, ":00:00", 6) != 0)
        w = interval_add((Interval){UNIT_HOUR, 1}, w, 1);
    return w;
}

static const char *wall_text(Arena *a, WallTime w)
{
    Buf b = {0};
    walltime_format(&b, w);
    return buf_to_arena(&b, a);
}

static json_t *epoch_json(Arena *a, double epoch)
{
    return epoch >= 0 ? json_string(status_rfc3339(a, epoch)) : json_null();
}

/* One registered table. */
typedef struct StatusTable {
    const char *qname;
    Policy p;
    bool have_policy;
    bool time_range; /* range by a time key: premake, retention and coverage apply */
} StatusTable;

/* Rows of every partition PS[0..N-1]: DEFAULT, sub-partitioned ones and
 * those up to EXACT_COUNT_BYTES counted exactly (in a few queries), empty
 * files are 0, bigger ones the planner's estimate (*EXACT false). */
static bool partition_rows(PgConn *c, Arena *a, const PartStatus *ps, int n, int64_t **rows, bool **exact, Err *err)
{
    *rows = arena_alloc(a, sizeof **rows * (size_t)(n + 1));
    *exact = arena_alloc(a, sizeof **exact * (size_t)(n + 1));
    const char **schemas = arena_alloc(a, sizeof *schemas * (size_t)(n + 1));
    const char **names = arena_alloc(a, sizeof *names * (size_t)(n + 1));
    int *which = arena_alloc(a, sizeof *which * (size_t)(n + 1));
    int64_t *counts = arena_alloc(a, sizeof *counts * (size_t)(n + 1));
    int k = 0;
    for (int i = 0; i < n; i++) {
        const PartStatus *s = &ps[i];
        (*exact)[i] = true;
        (*rows)[i] = 0;
        if (s->part.is_default || s->part.relkind == 'p' || (s->heap_bytes > 0 && s->part.bytes <= EXACT_COUNT_BYTES)) {
            schemas[k] = s->part.schema;
            names[k] = s->part.name;
            which[k++] = i;
        } else if (s->heap_bytes > 0) {
            (*rows)[i] = s->part.reltuples > 0 ? (int64_t)s->part.reltuples : 0;
            (*exact)[i] = false;
        }
    }
    if (!catalog_count_many(c, schemas, names, k, counts, err))
        return false;
    for (int j = 0; j < k; j++)
        (*rows)[which[j]] = counts[j];
    return true;
}

/* The premake coverage of a time-range table: the partitions from the one
 * holding now on, as long as each starts where the previous ends. */
static json_t *premake_json(Arena *a, const StatusTable *st, const CatalogTable *ct, const PartStatus *ps,
                            const int *range, int nrange)
{
    const Policy *p = &st->p;
    WallTime now = wall_hour(ct->now_wall);
    const char *required = wall_text(a, interval_add(p->interval, now, p->premake));
    int first = -1, last = -1, ahead = 0;
    for (int k = 0; k < nrange; k++) {
        const PartStatus *s = &ps[range[k]];
        bool lo_ok = !strcmp(s->part.from, "MINVALUE") || (*s->from_wall && strcmp(s->from_wall, ct->now_wall) <= 0);
        bool hi_ok = !strcmp(s->part.to, "MAXVALUE") || (*s->to_wall && strcmp(s->to_wall, ct->now_wall) > 0);
        if (first < 0 && lo_ok && hi_ok)
            first = last = k;
        else if (first >= 0 && last == k - 1 && !strcmp(ps[range[last]].part.to, s->part.from))
            last = k;
        if (*s->from_wall && strcmp(s->from_wall, ct->now_wall) > 0)
            ahead++;
    }
    json_t *o = json_object();
    json_object_set_new(o, "required_until", json_string(required));
    json_object_set_new(o, "timezone", json_string(p->timezone));
    json_object_set_new(o, "premake", json_integer(p->premake));
    json_object_set_new(o, "interval", json_string(""));
    Buf ivb = {0};
    interval_format(&ivb, p->interval);
    json_object_set_new(o, "interval", json_string(buf_str(&ivb)));
    buf_free(&ivb);
    json_object_set_new(o, "now_covered", json_boolean(first >= 0));
    json_object_set_new(o, "partitions_ahead", json_integer(ahead));
    const PartStatus *end = first >= 0 ? &ps[range[last]] : NULL;
    bool unbounded = end && !strcmp(end->part.to, "MAXVALUE");
    json_object_set_new(o, "covered_until", end ? json_string(end->part.to) : json_null());
    json_object_set_new(o, "covered_until_time",
                        end && end->has_to_epoch ? json_string(status_rfc3339(a, end->to_epoch)) : json_null());
    json_object_set_new(o, "unbounded", json_boolean(unbounded));
    long long intervals = 0;
    if (end && !unbounded) {
        /* whole intervals from now itself: from its hour, 00:06 on the 1st
         * would count the month up to 00:00 as one */
        WallTime cw = wall_hour(end->to_wall), from = wall_hour_up(ct->now_wall);
        while (intervals < 100000 && walltime_cmp(interval_add(p->interval, from, intervals + 1), cw) <= 0)
            intervals++;
    }
    json_object_set_new(o, "coverage_intervals", unbounded ? json_null() : json_integer(intervals));
    json_object_set_new(o, "coverage_seconds",
                        unbounded ? json_null()
                        : end     ? json_integer((json_int_t)(end->to_epoch - ct->now_epoch))
                                  : json_integer(0));
    json_object_set_new(o, "ok", json_boolean(unbounded || (end && intervals >= p->premake)));
    return o;
}

/* One managed table's section from its partitions PS[0..N-1]. */
static json_t *table_json(Arena *a, const StatusTable *st, const CatalogTable *ct, const PartStatus *ps, int n,
                          const int64_t *rows, const bool *exact)
{
    const TableInfo *ti = &ct->info;
    const Policy *p = &st->p;
    json_t *o = json_object();
    json_object_set_new(o, "table", json_string(st->qname));
    json_object_set_new(o, "schema", json_string(ct->schema));
    json_object_set_new(o, "name", json_string(ct->table));
    json_object_set_new(o, "exists", json_boolean(ti->exists));
    json_object_set_new(o, "partitioned", json_boolean(ti->relkind == 'p'));
    json_object_set_new(o, "partition_key", json_string(ti->key));
    json_t *parts = json_array(), *gaps = json_array(), *due = json_array();
    json_object_set_new(o, "partitions", parts);
    int64_t default_rows = 0;
    bool has_default = false;
    int *range = arena_alloc(a, sizeof *range * (size_t)(n + 1));
    int nrange = 0, ndue = 0;
    int *due_at = arena_alloc(a, sizeof *due_at * (size_t)(n + 1));
    bool time_range = st->time_range && ti->relkind == 'p' && ti->strategy == 'r';
    const char *cutoff = NULL;
    WallTime now = wall_hour(ct->now_wall);
    if (time_range && p->retention.set)
        cutoff = wall_text(a, interval_add(p->retention.keep, now, -1));
    const char *prev_to = NULL;
    for (int i = 0; i < n; i++) {
        const PartStatus *s = &ps[i];
        json_t *po = json_pack("{s:s, s:s, s:s, s:I, s:b, s:s, s:I, s:s, s:s}", "name", s->part.name, "from",
                               s->part.from, "to", s->part.to, "rows", (json_int_t)rows[i], "rows_exact", exact[i],
                               "rows_source", exact[i] ? "exact" : "estimate", "bytes", (json_int_t)s->part.bytes,
                               "tablespace", s->part.tablespace, "bound", s->part.bound);
        if (s->has_from_epoch)
            json_object_set_new(po, "from_time", json_string(status_rfc3339(a, s->from_epoch)));
        if (s->has_to_epoch)
            json_object_set_new(po, "to_time", json_string(status_rfc3339(a, s->to_epoch)));
        json_array_append_new(parts, po);
        if (s->part.is_default) {
            has_default = true;
            default_rows += rows[i];
            json_object_set_new(o, "default_partition", json_string(s->part.name));
            continue;
        }
        if (!*s->part.from)
            continue;
        /* a gap wholly below retention's cutoff held partitions that were
         * due: gone on purpose (maintain leaves it too) */
        bool retired = cutoff && s->from_wall && *s->from_wall && strcmp(s->from_wall, cutoff) <= 0;
        if (prev_to && strcmp(prev_to, s->part.from) != 0 && !retired)
            json_array_append_new(gaps, json_pack("{s:s, s:s}", "from", prev_to, "to", s->part.from));
        prev_to = s->part.to;
        range[nrange++] = i;
        if (cutoff && *s->to_wall && strcmp(s->to_wall, cutoff) <= 0)
            due_at[ndue++] = i;
    }
    /* never the newest partition */
    if (nrange > 0 && ndue == nrange)
        ndue--;
    for (int k = 0; k < ndue; k++)
        json_array_append_new(due, json_string(ps[due_at[k]].part.name));
    json_object_set_new(o, "partitions_total", json_integer(n));
    json_object_set_new(o, "default_rows", json_integer(default_rows));
    json_object_set_new(o, "has_default", json_boolean(has_default));
    json_object_set_new(o, "gaps", gaps);
    json_object_set_new(o, "retention_due", due);
    json_t *ret = json_null();
    if (cutoff) {
        Buf kb = {0};
        interval_format(&kb, p->retention.keep);
        ret = json_pack("{s:s, s:i}", "keep", buf_str(&kb), "due", ndue);
        buf_free(&kb);
        if (ndue > 0) {
            /* the oldest due partition became due when its upper bound was
             * `keep` old */
            const PartStatus *s = &ps[due_at[0]];
            WallTime to = wall_hour(s->to_wall);
            double since =
                s->to_epoch + (double)(wall_seconds(interval_add(p->retention.keep, to, 1)) - wall_seconds(to));
            json_object_set_new(ret, "oldest_due_since", json_string(status_rfc3339(a, since)));
            json_object_set_new(ret, "oldest_due_seconds", json_integer((json_int_t)(ct->now_epoch - since)));
        } else {
            json_object_set_new(ret, "oldest_due_since", json_null());
            json_object_set_new(ret, "oldest_due_seconds", json_null());
        }
    }
    json_object_set_new(o, "retention", ret);
    json_object_set_new(o, "premake", time_range ? premake_json(a, st, ct, ps, range, nrange) : json_null());
    return o;
}

/* Every registered table's section, appended to TABLES; the summary counts
 * added to SUMMARY. */
static bool tables_json(PgConn *c, Arena *a, json_t *tables, json_t *summary, Err *err)
{
    const char **names = NULL, **jsons = NULL;
    int n = 0, nparts = 0;
    if (!ledger_policies(c, a, &names, &jsons, &n, err))
        return false;
    StatusTable *st = arena_alloc(a, sizeof *st * (size_t)(n + 1));
    CatalogTable *ct = arena_alloc(a, sizeof *ct * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        Err ignored;
        memset(&st[i], 0, sizeof st[i]);
        memset(&ct[i], 0, sizeof ct[i]);
        st[i].qname = names[i];
        st[i].have_policy = jsons[i] && policy_from_json(jsons[i], a, &st[i].p, &ignored);
        st[i].time_range = st[i].have_policy && st[i].p.by == PART_RANGE && st[i].p.interval.unit != UNIT_INTEGER &&
                           st[i].p.interval.unit != UNIT_NONE;
        runner_split(names[i], a, &ct[i].schema, &ct[i].table);
        ct[i].zone = st[i].have_policy && st[i].p.timezone ? st[i].p.timezone : "UTC";
    }
    PartStatus *ps = NULL;
    int64_t *rows = NULL;
    bool *exact = NULL;
    LedgerMaintainRun *runs = NULL;
    int nruns = 0;
    if (!catalog_tables_status(c, ct, n, a, err) || !catalog_partitions_status(c, ct, n, a, &ps, &nparts, err) ||
        !partition_rows(c, a, ps, nparts, &rows, &exact, err) || !ledger_maintain_runs(c, a, &runs, &nruns, err))
        return false;
    long long total_parts = 0, default_rows = 0, gaps = 0, due = 0, short_premake = 0, not_partitioned = 0;
    for (int i = 0, k = 0; i < n; i++) {
        int from = k;
        while (k < nparts && ps[k].table == i)
            k++;
        json_t *t = table_json(a, &st[i], &ct[i], ps + from, k - from, rows + from, exact + from);
        json_t *m = json_null();
        for (int r = 0; r < nruns; r++) {
            if (strcmp(runs[r].table, names[i]) != 0)
                continue;
            m = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:i}", "last_result",
                          *runs[r].result ? json_string(runs[r].result) : json_null(), "last_error",
                          *runs[r].error ? json_string(runs[r].error) : json_null(), "last_started_at",
                          epoch_json(a, runs[r].started_at), "last_finished_at", epoch_json(a, runs[r].finished_at),
                          "last_ok_at", epoch_json(a, runs[r].last_ok_at), "registered_at",
                          epoch_json(a, runs[r].registered_at), "changes", runs[r].changes);
            json_object_set_new(m, "last_ok_seconds",
                                runs[r].last_ok_at >= 0
                                    ? json_integer((json_int_t)(ct[i].now_epoch - runs[r].last_ok_at))
                                    : json_null());
            json_object_set_new(m, "registered_seconds",
                                json_integer((json_int_t)(ct[i].now_epoch - runs[r].registered_at)));
            break;
        }
        json_object_set_new(t, "maintain", m);
        total_parts += k - from;
        default_rows += json_integer_value(json_object_get(t, "default_rows"));
        gaps += (long long)json_array_size(json_object_get(t, "gaps"));
        due += (long long)json_array_size(json_object_get(t, "retention_due"));
        json_t *pm = json_object_get(t, "premake");
        short_premake += json_is_object(pm) && !json_is_true(json_object_get(pm, "ok"));
        not_partitioned += !json_is_true(json_object_get(t, "partitioned"));
        json_array_append_new(tables, t);
    }
    json_object_set_new(summary, "tables", json_integer(n));
    json_object_set_new(summary, "tables_not_partitioned", json_integer(not_partitioned));
    json_object_set_new(summary, "partitions", json_integer(total_parts));
    json_object_set_new(summary, "default_rows", json_integer(default_rows));
    json_object_set_new(summary, "gaps", json_integer(gaps));
    json_object_set_new(summary, "retention_due", json_integer(due));
    json_object_set_new(summary, "premake_short", json_integer(short_premake));
    return true;
}

/* The summary of a database without a ledger: nothing managed. */
static void tables_json_empty(json_t *summary)
{
    static const char *const keys[] = {"tables", "tables_not_partitioned", "partitions",   "default_rows",
                                       "gaps",   "retention_due",          "premake_short"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        json_object_set_new(summary, keys[i], json_integer(0));
}

typedef struct StatusOptions {
    RunOptions o;
    const char *format; /* text | json | openmetrics */
    bool check;
    StatusThresholds th;
} StatusOptions;

static int option_error(const char *fmt, const char *arg, const char *arg2)
{
    char what[512];
    snprintf(what, sizeof what, fmt, arg, arg2);
    log_msg(LOG_ERROR, "status: %s", what);
    log_hint("run \"partmig status --help\"");
    return PM_EINPUT;
}

/* status's own options, beside runner_parse's: --check, --format and the
 * thresholds (--name VALUE or --name=VALUE). */
enum {
    OPTION_PREMAKE_WARN,
    OPTION_DEFAULT_ROWS_WARN,
    OPTION_FINALIZE_WARN,
    OPTION_STALLED_WARN,
    OPTION_RETENTION_OVERDUE,
    OPTION_MAINTAIN_WARN,
    OPTION_MAINTAIN_CRIT,
    OPTION_FORMAT,
    OPTION_CHECK,
};
static const RunnerOption status_options[] = {
    {"premake-warn", true, OPTION_PREMAKE_WARN, 0},
    {"default-rows-warn", true, OPTION_DEFAULT_ROWS_WARN, 0},
    {"finalize-warn", true, OPTION_FINALIZE_WARN, 0},
    {"stalled-warn", true, OPTION_STALLED_WARN, 0},
    {"retention-overdue", true, OPTION_RETENTION_OVERDUE, 0},
    {"maintain-warn", true, OPTION_MAINTAIN_WARN, 0},
    {"maintain-crit", true, OPTION_MAINTAIN_CRIT, 0},
    {"format", true, OPTION_FORMAT, 0},
    {"check", false, OPTION_CHECK, 0},
    {NULL, false, 0, 0},
};

/* "--premake-warn" for option ID, as the user wrote it. */
static const char *option_name(int id)
{
    static char name[40];
    for (int i = 0; status_options[i].name; i++)
        if (status_options[i].id == id)
            snprintf(name, sizeof name, "--%s", status_options[i].name);
    return name;
}

static int set_option(void *ctx, int id, const char *v)
{
    StatusOptions *so = ctx;
    if (id == OPTION_CHECK) {
        so->check = true;
        return -1;
    }
    if (id == OPTION_FORMAT) {
        if (strcmp(v, "text") && strcmp(v, "json") && strcmp(v, "openmetrics"))
            return option_error("--format \"%s\": expected text, json or openmetrics%s", v, "");
        so->format = v;
        return -1;
    }
    /* the counts are plain numbers, the others durations */
    bool count = id == OPTION_PREMAKE_WARN || id == OPTION_DEFAULT_ROWS_WARN;
    char *end = NULL;
    long long num = count ? strtoll(v, &end, 10) : status_parse_duration(v);
    if ((count && (*end || !*v || num < 0 || num > 1000000000000LL)) || num < 0)
        return option_error("%s \"%s\": expected a number (of seconds, or with s, m, h, d, w)", option_name(id), v);
    switch (id) {
    case OPTION_PREMAKE_WARN: so->th.premake_warn = num > 100000 ? 100000 : (int)num; break;
    case OPTION_DEFAULT_ROWS_WARN: so->th.default_rows_warn = num; break;
    case OPTION_FINALIZE_WARN: so->th.finalize_warn = num; break;
    case OPTION_STALLED_WARN: so->th.stalled_warn = num; break;
    case OPTION_RETENTION_OVERDUE: so->th.retention_overdue = num; break;
    case OPTION_MAINTAIN_WARN: so->th.maintain_warn = num; break;
    case OPTION_MAINTAIN_CRIT: so->th.maintain_crit = num; break;
    }
    return -1;
}

static int parse_options(int argc, char **argv, StatusOptions *so)
{
    so->format = "text";
    so->th = (StatusThresholds){STATUS_PREMAKE_WARN, STATUS_DEFAULT_ROWS_WARN, STATUS_FINALIZE_WARN,
                                STATUS_STALLED_WARN, STATUS_RETENTION_OVERDUE, STATUS_MAINTAIN_WARN,
                                STATUS_MAINTAIN_CRIT};
    /* a check reports even bad usage as UNKNOWN, wherever --check stands */
    for (int i = 1; i < argc; i++)
        so->check |= !strcmp(argv[i], "--check");
    int rc = runner_parse_extra(argc, argv, OPT_DIR | OPT_DB | OPT_JSON, status_options, set_option, so, status_usage,
                                &so->o);
    if (rc < 0 && so->o.json)
        so->format = "json";
    /* Nagios: a check that cannot run is UNKNOWN */
    if (rc > 0 && so->check)
        rc = CHECK_UNKNOWN;
    return rc;
}

int cmd_status(int argc, char **argv)
{
    StatusOptions so;
    memset(&so, 0, sizeof so);
    int rc = parse_options(argc, argv, &so);
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
    const char *now = "";
    /* whether a runner is at work, read before and after the ledger: an
     * unfinished run is reported as interrupted only when none was at
     * either moment (a run that starts or ends in between is not) */
    bool running = false, running_after = false;
    const char *holder = "", *holder_after = "";
    if (!migdir_load(so.o.dir, !so.o.dir_given, &arena, &dir, &err) || !runner_connect(&so.o, &c, &err) ||
        !runner_running(c, &arena, &running, &holder, &err) || !ledger_load(c, &arena, &ledger, &err) ||
        !pg_query_text(c, "SELECT extract(epoch FROM now())::text", 0, NULL, &arena, &now, &err))
        goto done;
    root = json_object();
    json_object_set_new(root, "generated_at", json_string(status_rfc3339(&arena, strtod(now, NULL))));
    json_t *summary = json_object();
    json_object_set_new(root, "summary", summary);
    json_object_set_new(root, "migrations", migrations_json(&arena, &dir, &ledger));
    json_t *tables = json_array();
    json_object_set_new(root, "tables", tables);
    json_t *convs = json_array();
    if (ledger.exists) {
        json_decref(convs);
        if (!conversions_json(c, &arena, &convs, &err))
            goto done;
    }
    json_object_set_new(root, "conversions", convs);
    if (!runner_running(c, &arena, &running_after, &holder_after, &err))
        goto done;
    if (!*holder)
        holder = holder_after;
    json_object_set_new(root, "runner",
                        json_pack("{s:b, s:o}", "running", running || running_after, "lock_holder",
                                  *holder ? json_string(holder) : json_null()));
    long long waiting = 0;
    size_t i;
    json_t *cv;
    json_array_foreach(convs, i, cv) waiting += json_is_true(json_object_get(cv, "waiting_for_finalize"));
    json_object_set_new(summary, "conversions_unfinished", json_integer((json_int_t)json_array_size(convs)));
    json_object_set_new(summary, "conversions_waiting_for_finalize", json_integer(waiting));
    if (ledger.exists && !tables_json(c, &arena, tables, summary, &err))
        goto done;
    if (!ledger.exists)
        tables_json_empty(summary);
    json_t *check = so.check ? status_check(root, &so.th) : NULL;
    if (check)
        json_object_set_new(root, "check", check);
    if (!strcmp(so.format, "json")) {
        char *text = json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
        if (text)
            puts(text);
        free(text);
    } else if (!strcmp(so.format, "openmetrics"))
        status_print_openmetrics(root);
    else if (check)
        status_print_check(check);
    else
        status_print_human(root);
    fflush(stdout);
    ok = true;
    rc = check ? (int)json_integer_value(json_object_get(check, "code")) : PM_OK;
done:
    if (!ok) {
        if (so.check)
            printf("PARTMIG UNKNOWN - %s\n", err.msg);
        rc = runner_fail(&err);
        if (so.check)
            rc = CHECK_UNKNOWN;
    }
    json_decref(root);
    pg_close(c);
    arena_free(&arena);
    return rc;
}
