/* init.c: partmig init --db URL TABLE... -- a starting policy for existing
 * tables, proposed from the catalog and the data, each choice explained in a
 * comment of the policy it writes. */
#include "init.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands.h"
#include "../common/buf.h"
#include "../common/log.h"
#include "../common/fs.h"
#include "../common/quote.h"
#include "runner.h"

#define TARGET_ROWS_DEFAULT 5000000LL /* rows a partition should hold, about */
#define MANY_PARTITIONS     1000      /* more than this: a warning in the policy */

static const char *const init_usage =
    "usage: partmig init [--db URL] [-o FILE] [--rows-per-partition N] TABLE...\n"
    "\n"
    "Write a starting policy (Lua) for existing tables, proposed from the catalog\n"
    "and the data, each choice explained in a comment: the partition column (a\n"
    "NOT NULL timestamptz, timestamp or date column, one an index leads first;\n"
    "else an integer key), the interval (from the rows per day and the date range,\n"
    "for partitions of about N rows), premake, the primary key that includes the\n"
    "column, and the table's indexes.  A comment warns when the table would get\n"
    "more than 1,000 partitions.  TABLE is NAME (schema public) or SCHEMA.NAME.\n"
    "Reads every row of each table once (counts, min and max); changes nothing.\n"
    "Review the policy, then: partmig compile, partmig apply.\n"
    "\n"
    "  -o, --output FILE           write the policy to FILE (refused when it exists;\n"
    "                              default: standard output)\n"
    "      --rows-per-partition N  the partition size to aim for (default 5000000)\n"
    "      --db URL                connection URL (else PARTMIG_DATABASE_URL, else PG*\n"
    "                              env); others see it in ps: give a password through\n"
    "                              PARTMIG_DATABASE_URL, PGPASSWORD or ~/.pgpass instead\n"
    "\n"
    "exit codes: 0 written, 1 database error, 2 bad input (no such table, no\n"
    "column partmig can partition by)\n";

typedef struct Column {
    const char *name, *type;
    bool not_null;
    const char *kind;  /* "time", "integer" or "" */
    const char *index; /* an index it leads, or NULL */
    bool in_pk;
} Column;

static const struct {
    const char *text;
    double days;
    int premake;
} units[] = {
    {"1 day", 1, 7}, {"1 week", 7, 4}, {"1 month", 30.436875, 3}, {"1 quarter", 91.310625, 2}, {"1 year", 365.2425, 1}};

/* "1,234,567" */
static const char *thousands(Arena *a, double v)
{
    char digits[32], out[48];
    snprintf(digits, sizeof digits, "%.0f", v < 0 ? 0 : v);
    size_t n = strlen(digits), o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return arena_strdup(a, out);
}

/* 1, 2 or 5 times a power of ten, at least V (>= 1). */
static int64_t round_step(double v)
{
    if (v < 1)
        return 1;
    double p = pow(10, floor(log10(v)));
    double m = v / p;
    double r = m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10;
    double step = r * p;
    return step > 1e15 ? (int64_t)1e15 : (int64_t)step;
}

/* The candidate for the partition column: NOT NULL time columns first (one
 * an index leads preferred), else a NOT NULL integer column (the primary
 * key's preferred).  -1 when none. */
static int pick_column(const Column *cols, int n, bool *is_time)
{
    int best = -1, best_score = -1;
    for (int pass = 0; pass < 2 && best < 0; pass++) {
        const char *kind = pass == 0 ? "time" : "integer";
        for (int i = 0; i < n; i++) {
            if (strcmp(cols[i].kind, kind) || !cols[i].not_null || !ident_is_plain(cols[i].name))
                continue;
            int score = (cols[i].index ? 2 : 0) + (cols[i].in_pk ? 1 : 0) + (pass == 1 && cols[i].in_pk ? 2 : 0);
            if (score > best_score)
                best = i, best_score = score;
        }
        *is_time = pass == 0;
    }
    return best;
}

/* The policy entry for SCHEMA.TABLE appended to OUT. */
static bool propose(PgConn *c, const char *schema, const char *table, long long target, Arena *a, Buf *out, Err *err)
{
    bool ok = false;
    PgResult *r = NULL;
    Column *cols = NULL;
    int ncols = 0;
    if (!ident_is_plain(schema) || !ident_is_plain(table)) {
        err_set(err, PM_EINPUT, "table \"%s.%s\": partmig manages only plain lowercase names", schema, table);
        err_hint(err, "names must match ^[a-z_][a-z0-9_]{0,62}$; rename the table, or partition it by hand");
        goto done;
    }
    if (!catalog_init_relation(c, schema, table, &r, err))
        goto done;
    if (pg_nrows(r) == 0) {
        err_set(err, PM_EINPUT, "table \"%s.%s\" does not exist", schema, table);
        err_hint(err, "name an existing table as NAME or SCHEMA.NAME (psql: \\dt *.*)");
        goto done;
    }
    const char *oid = arena_strdup(a, pg_get(r, 0, 0));
    char relkind = pg_get(r, 0, 1)[0];
    pg_result_free(r);
    r = NULL;
    if (relkind != 'r') {
        err_set(err, PM_EINPUT, "\"%s.%s\" is %s, not a plain table", schema, table,
                relkind == 'p' ? "partitioned already" : "a view, sequence or other relation");
        err_hint(err, "%s",
                 relkind == 'p' ? "write its policy by hand with the layout it has (docs/POLICY.md)"
                                : "partmig init proposes policies for plain tables");
        goto done;
    }

    if (!catalog_init_columns(c, oid, &r, err))
        goto done;
    ncols = pg_nrows(r);
    cols = arena_alloc(a, sizeof *cols * (size_t)(ncols + 1));
    for (int i = 0; i < ncols; i++) {
        cols[i].name = arena_strdup(a, pg_get(r, i, 0));
        cols[i].type = arena_strdup(a, pg_get(r, i, 1));
        cols[i].not_null = pg_get(r, i, 2)[0] == 't';
        cols[i].kind = arena_strdup(a, pg_get(r, i, 3));
        cols[i].index = pg_isnull(r, i, 4) ? NULL : arena_strdup(a, pg_get(r, i, 4));
        cols[i].in_pk = pg_get(r, i, 5)[0] == 't';
    }
    pg_result_free(r);
    r = NULL;

    bool is_time = false;
    int k = pick_column(cols, ncols, &is_time);
    if (k < 0) {
        err_set(err, PM_EINPUT,
                "table \"%s.%s\": no NOT NULL timestamptz, timestamp, date or integer column to partition by", schema,
                table);
        err_hint(err, "partition it by list or hash by hand (docs/POLICY.md: by, values, modulus), or make a "
                      "column NOT NULL (after filling its NULL rows) and run partmig init again");
        goto done;
    }
    const Column *key = &cols[k];

    /* the data: rows, the range of the key */
    if (!catalog_init_column_stats(c, schema, table, key->name, is_time, &r, err))
        goto done;
    double rows = (double)pg_get_int(r, 0, 0);
    const char *kmin = arena_strdup(a, pg_get(r, 0, 2)), *kmax = arena_strdup(a, pg_get(r, 0, 3));
    double span = pg_isnull(r, 0, 4) ? 0 : strtod(pg_get(r, 0, 4), NULL);
    pg_result_free(r);
    r = NULL;

    buf_printf(out, "-- %s.%s: %s rows", schema, table, thousands(a, rows));
    if (rows > 0)
        buf_printf(out, ", %s from %s to %s", key->name, kmin, kmax);
    buf_append(out, "\npartition \"");
    buf_append(out, table);
    buf_append(out, "\" {\n");
    buf_printf(out, "  schema = \"%s\",\n  by = \"range\",\n\n", schema);

    /* why this column */
    buf_printf(out, "  -- %s: %s NOT NULL%s", key->name, key->type,
               key->index ? arena_printf(a, ", the first column of index %s", key->index) : ", no index leads it");
    buf_append(out, ".\n");
    int others = 0;
    for (int i = 0; i < ncols; i++)
        if (i != k && !strcmp(cols[i].kind, is_time ? "time" : "integer") && cols[i].not_null)
            buf_printf(out, "%s%s", others++ ? ", " : "  -- other candidates: ", cols[i].name);
    if (others)
        buf_append(out, ".\n");
    for (int i = 0; i < ncols; i++)
        if (!strcmp(cols[i].kind, "time") && !cols[i].not_null)
            buf_printf(out,
                       "  -- %s (%s) is nullable: a partition key must be NOT NULL; to partition by it, fill its "
                       "NULL rows, ALTER TABLE %s.%s ALTER COLUMN %s SET NOT NULL, and run partmig init again.\n",
                       cols[i].name, cols[i].type, schema, table, cols[i].name);
    if (!is_time)
        buf_append(out, "  -- no NOT NULL timestamptz, timestamp or date column: partitioned by an integer key in "
                        "ranges of its values.\n");
    buf_printf(out, "  column = \"%s\",\n\n", key->name);

    /* the interval, from the rows per day (time) or the density of keys (integer) */
    double partitions = 0;
    int premake = 3;
    if (is_time) {
        int u = 2; /* an empty table: 1 month */
        if (rows > 0) {
            double per_day = rows / (span > 1 ? span : 1), best = INFINITY;
            for (int i = 0; i < (int)(sizeof units / sizeof *units); i++) {
                double d = fabs(log(per_day * units[i].days / (double)target));
                if (d < best)
                    best = d, u = i;
            }
            buf_printf(out, "  -- about %s rows a day over %s days: \"%s\" makes partitions of about %s rows\n",
                       thousands(a, per_day), thousands(a, span), units[u].text, thousands(a, per_day * units[u].days));
            buf_printf(out, "  -- (the interval whose partitions come closest to %s rows; %s)\n", thousands(a, target),
                       per_day * units[u].days < target / 5.0
                           ? "a table this small gains little from partitioning besides retention"
                           : "change it with --rows-per-partition or by hand");
            partitions = ceil(span / units[u].days) + 1;
        } else {
            buf_append(out, "  -- the table is empty: \"1 month\" until there are rows to measure\n");
        }
        premake = units[u].premake;
        buf_printf(out, "  interval = \"%s\",\n", units[u].text);
        buf_printf(out, "  -- partitions made ahead of now by apply and kept so by partmig maintain\n");
        buf_printf(out, "  premake = %d,\n", premake);
        if (!strcmp(key->type, "date"))
            buf_append(out, "  -- bounds are dates: the timezone does not move them\n");
        else if (!strcmp(key->type, "timestamp without time zone"))
            buf_append(out, "  -- bounds at midnight of the column's own (zone-less) times\n");
        else
            buf_append(out, "  -- bounds at midnight in this zone: use the zone your days and months begin in\n");
        buf_append(out, "  timezone = \"UTC\",\n");
    } else {
        int64_t step = 1000000;
        if (rows > 0 && span > 0) {
            double density = rows / span;
            step = round_step((double)target / (density > 0 ? density : 1));
            buf_printf(out,
                       "  -- %s rows over keys %s..%s (%.2f rows a key): steps of %s keys make partitions of about "
                       "%s rows\n",
                       thousands(a, rows), kmin, kmax, density, thousands(a, (double)step),
                       thousands(a, density * (double)step));
            partitions = ceil(span / (double)step);
        } else {
            buf_append(out, "  -- the table is empty: steps of 1,000,000 keys until there are rows to measure\n");
        }
        buf_printf(out, "  interval = %lld,\n", (long long)step);
        buf_append(out, "  -- partitions made past the largest key by apply and kept so by partmig maintain\n");
        buf_printf(out, "  premake = %d,\n", premake);
    }
    partitions += premake;
    /* after the conversion a row outside every partition is refused, where
     * the plain table took it: say so where the choice is made */
    buf_append(out, "  -- rows older than the first partition or past the premake window are refused once the table\n"
                    "  -- is partitioned (back-dated entries!); to keep them, uncomment: status reports them, and\n"
                    "  -- partmig maintain --drain-default moves them into partitions\n"
                    "  -- default_partition = true,\n");
    if (partitions > MANY_PARTITIONS)
        buf_printf(out,
                   "  -- WARNING: about %s partitions, more than %s: planning and locking slow down with every "
                   "partition; choose a longer interval, or give a later \"start\" and archive the older rows\n",
                   thousands(a, partitions), thousands(a, MANY_PARTITIONS));
    else if (partitions > 0)
        buf_printf(out, "  -- about %s partitions for the rows there are now\n", thousands(a, partitions));

    /* the primary key: the old one plus the partition column */
    if (!catalog_init_primary_key(c, oid, &r, err))
        goto done;
    buf_append(out, "\n");
    if (pg_nrows(r) > 0) {
        Buf pk = {0};
        bool has_key = false;
        for (int i = 0; i < pg_nrows(r); i++) {
            buf_printf(&pk, "%s\"%s\"", i ? ", " : "", pg_get(r, i, 0));
            has_key |= !strcmp(pg_get(r, i, 0), key->name);
        }
        if (!has_key)
            buf_printf(&pk, ", \"%s\"", key->name);
        buf_printf(out,
                   has_key ? "  -- the primary key, which includes the partition column already\n"
                           : "  -- a partitioned table's primary key must include the partition column: the table's "
                             "key plus %s\n",
                   key->name);
        buf_printf(out, "  primary_key = { %s },\n", buf_str(&pk));
        buf_free(&pk);
    } else {
        buf_append(out, "  -- the table has no primary key: partmig's copy conversion needs one to copy in batches;\n"
                        "  -- add one (ALTER TABLE ... ADD PRIMARY KEY) or declare it here with the partition "
                        "column: primary_key = { \"id\", \"");
        buf_printf(out, "%s\" }\n", key->name);
    }
    pg_result_free(r);
    r = NULL;

    /* the indexes, carried to every partition */
    if (!catalog_init_indexes(c, oid, &r, err))
        goto done;
    int listed = 0;
    for (int i = 0; i < pg_nrows(r); i++) {
        const char *name = pg_get(r, i, 0), *method = pg_get(r, i, 2), *columns = pg_get(r, i, 4);
        bool unique = pg_get(r, i, 1)[0] == 't', plain = pg_get(r, i, 3)[0] == 't';
        static const char *const methods[] = {"btree", "hash", "gin", "gist", "brin"};
        bool known = false;
        for (int m = 0; m < 5; m++)
            known |= !strcmp(method, methods[m]);
        Buf cl = {0};
        bool has_key = false, names_ok = true;
        for (const char *p = columns; *p;) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            char *one = arena_strndup(a, p, len);
            names_ok &= ident_is_plain(one);
            has_key |= !strcmp(one, key->name);
            buf_printf(&cl, "%s\"%s\"", cl.len ? ", " : "", one);
            p += len + (end ? 1 : 0);
        }
        if (!listed++)
            buf_append(out, "\n  -- the table's indexes, made on every partition (partmig's conversion carries "
                            "every index;\n  -- declared here, they are the policy's: maintain and later versions "
                            "keep them)\n  indexes = {\n");
        if (!plain || !known || !names_ok)
            buf_printf(out, "    -- %s: %s, carried as it is defined\n", name,
                       !plain ? "on expressions, partial or with INCLUDE columns" : "not expressible in a policy");
        else if (unique && !has_key)
            buf_printf(out,
                       "    -- %s: unique on (%s) without %s: a partitioned table's unique index must include the "
                       "partition column, and pre-flight refuses the table until it does: drop the index, or "
                       "recreate it with %s\n",
                       name, columns, key->name, key->name);
        else
            buf_printf(out, "    { columns = { %s }%s%s },  -- %s\n", buf_str(&cl), unique ? ", unique = true" : "",
                       strcmp(method, "btree") ? arena_printf(a, ", method = \"%s\"", method) : "", name);
        buf_free(&cl);
    }
    if (listed)
        buf_append(out, "  },\n");
    pg_result_free(r);
    r = NULL;

    if (is_time)
        buf_append(out, "\n  -- retention = { keep = \"24 months\" },  -- maintain drops partitions older than this\n");
    buf_append(out, "}\n");
    ok = true;
done:
    pg_result_free(r);
    return ok;
}

/* init's own options, beside runner_parse's --db. */
enum { OPTION_OUTPUT, OPTION_ROWS_PER_PARTITION };
static const RunnerOption init_options[] = {
    {"output", true, OPTION_OUTPUT, 'o'},
    {"rows-per-partition", true, OPTION_ROWS_PER_PARTITION, 0},
    {NULL, false, 0, 0},
};

typedef struct InitOptions {
    const char *output;    /* -o FILE, or NULL: standard output */
    long long target_rows; /* --rows-per-partition */
} InitOptions;

static int set_option(void *ctx, int id, const char *value)
{
    InitOptions *io = ctx;
    if (id == OPTION_OUTPUT) {
        io->output = value;
        return -1;
    }
    char *end;
    io->target_rows = strtoll(value, &end, 10);
    if (*end || end == value || io->target_rows < 100 || io->target_rows > 1000000000000LL) {
        log_msg(LOG_ERROR, "init: --rows-per-partition \"%s\": expected a number 100..1000000000000", value);
        log_hint("e.g. --rows-per-partition 5000000");
        return PM_EINPUT;
    }
    return -1;
}

int cmd_init(int argc, char **argv)
{
    RunOptions o;
    InitOptions io = {NULL, TARGET_ROWS_DEFAULT};
    int rc = runner_parse_extra(argc, argv, OPT_DB | OPT_ARGS, init_options, set_option, &io, init_usage, &o);
    if (rc >= 0)
        return rc;
    if (!o.nargs) {
        log_msg(LOG_ERROR, "init: name at least one table");
        log_hint("partmig init --db URL public.journal_entries");
        return PM_EINPUT;
    }
    const char *output = io.output;
    Arena arena = {0};
    Buf out = {0};
    PgConn *c = NULL;
    Err err;
    err_clear(&err);
    bool ok = false;
    if (output && fs_exists(output)) {
        err_set(&err, PM_EINPUT, "\"%s\" exists already", output);
        err_hint(&err, "partmig init does not overwrite a policy: remove it or name another file");
        goto done;
    }
    if (!runner_connect(&o, &c, &err))
        goto done;
    buf_append(&out, "-- Written by partmig init from the catalog and the data: a starting point.\n"
                     "-- Review every choice (each is explained), then run partmig compile and partmig apply.\n"
                     "-- docs/POLICY.md describes every key.\n");
    for (int i = 0; i < o.nargs; i++) {
        const char *schema, *table;
        runner_split(o.args[i], &arena, &schema, &table);
        buf_append(&out, "\n");
        if (!propose(c, schema, table, io.target_rows, &arena, &out, &err))
            goto done;
    }
    if (output) {
        if (!fs_write_atomic(output, buf_str(&out), out.len, &err))
            goto done;
        fprintf(stderr, "wrote %s (%d table%s)\n", output, o.nargs, o.nargs == 1 ? "" : "s");
    } else {
        fputs(buf_str(&out), stdout);
    }
    ok = true;
done:
    pg_close(c);
    buf_free(&out);
    arena_free(&arena);
    return ok ? PM_OK : runner_fail(&err);
}
