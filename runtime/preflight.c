/* preflight.c: what must hold before an existing table is converted, all
 * problems reported at once with their fixes, and the workload check's
 * report (workload.c).  Reads only: a refused conversion changes nothing.
 * The facts it checks are read by preflight_facts.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/quote.h"
#include "../model/partitions.h"
#include "convert_internal.h"
#include "workload.h"

/* ---- checks ---- */

typedef struct Report {
    Buf problems; /* "  N. problem\n     fix: ...\n" */
    Buf notes;    /* "note: ...\n" */
    int n;
} Report;

static void problem(Report *rep, const char *fix, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(Report *rep, const char *fix, const char *fmt, ...)
{
    char line[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    buf_printf(&rep->problems, "\n  %d. %s\n     fix: %s", ++rep->n, line, fix);
}

static void note(Report *rep, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(Report *rep, const char *fmt, ...)
{
    char line[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    buf_printf(&rep->notes, "partmig: note: %s\n", line);
}

static const char *join_names(Arena *a, const char *const *names, int n)
{
    Buf b = {0};
    for (int i = 0; i < n; i++)
        buf_printf(&b, "%s%s", i ? ", " : "", names[i]);
    const char *s = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return s;
}

/* "a", "b": names as a Lua list's items */
static const char *quoted_names(Arena *a, const char *const *names, int n)
{
    Buf b = {0};
    for (int i = 0; i < n; i++)
        buf_printf(&b, "%s\"%s\"", i ? ", " : "", names[i]);
    const char *s = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return s;
}

/* Checks that need queries beyond the facts; each adds to REP. */
static bool check_catalog(PgConn *c, const Policy *p, const TableFacts *f, Arena *a, Report *rep, Err *err)
{
    PgResult *r = NULL;
    bool ok = false;
    const char *qname = policy_qualified_name(p, a);
    const char *qtable = quote_qualified_str(a, p->schema, p->table);
    const char *op[] = {f->oid, p->column};

    /* a foreign key referencing the table: a partitioned table can be
     * referenced only through a unique key that includes the partition
     * column, so the referencing table needs that column too */
    if (!pg_exec(c,
                 "SELECT con.conrelid::regclass::text, con.conname, quote_ident(nc.nspname) || '.' ||"
                 " quote_ident(cc.relname), con.confdeltype::text,"
                 " (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) FROM unnest(con.conkey)"
                 "  WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum ="
                 "  k.attnum),"
                 " (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) FROM unnest(con.confkey)"
                 "  WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum ="
                 "  k.attnum),"
                 " (SELECT string_agg('(c.' || quote_ident(a.attname) || ' = p.' || quote_ident(b.attname) || ')',"
                 "  ' AND ' ORDER BY k.ord) FROM unnest(con.conkey, con.confkey) WITH ORDINALITY k(ck, fk, ord)"
                 "  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.ck"
                 "  JOIN pg_attribute b ON b.attrelid = con.confrelid AND b.attnum = k.fk),"
                 " (SELECT string_agg(a.attname, '/') FROM pg_attribute a WHERE a.attrelid = con.conrelid"
                 "  AND a.attnum > 0 AND NOT a.attisdropped)"
                 " FROM pg_constraint con JOIN pg_class cc ON cc.oid = con.conrelid"
                 " JOIN pg_namespace nc ON nc.oid = cc.relnamespace"
                 " WHERE con.confrelid = $1::oid AND con.contype = 'f' ORDER BY 1, 2",
                 1, op, &r, err))
        goto done;
    for (int i = 0; i < pg_nrows(r); i++) {
        const char *child = pg_get(r, i, 2), *conname = pg_get(r, i, 1);
        /* the new column: TABLE_COLUMN, lengthened while the referencing table has it */
        const char *col = arena_printf(a, "%s_%s", p->table, p->column);
        const char *have = arena_printf(a, "/%s/", pg_get(r, i, 7));
        while (strstr(have, arena_printf(a, "/%s/", col)))
            col = arena_printf(a, "%s_", col);
        const char *qcol = quote_ident_str(a, col), *pcol = quote_ident_str(a, p->column);
        char del = pg_get(r, i, 3)[0];
        const char *on_delete = del == 'r'   ? " ON DELETE RESTRICT"
                                : del == 'c' ? " ON DELETE CASCADE"
                                : del == 'n' ? " ON DELETE SET NULL"
                                : del == 'd' ? " ON DELETE SET DEFAULT"
                                             : "";
        problem(rep,
                arena_printf(
                    a,
                    "before converting run `ALTER TABLE %s DROP CONSTRAINT %s`; after it run `ALTER TABLE %s ADD "
                    "COLUMN %s %s; UPDATE %s c SET %s = p.%s FROM %s p WHERE %s; ALTER TABLE %s ADD CONSTRAINT %s "
                    "FOREIGN KEY (%s, %s) REFERENCES %s (%s, %s) MATCH FULL ON UPDATE CASCADE%s` (the new column "
                    "holds the referenced row's partition key; writers of %s set it from then on, and the "
                    "converted table needs a unique key on (%s, %s): its primary key when the policy's primary_key "
                    "is those columns)",
                    child, quote_ident_str(a, conname), child, qcol, f->part_type ? f->part_type : "timestamptz", child,
                    qcol, pcol, qtable, pg_get(r, i, 6), child, quote_ident_str(a, conname), pg_get(r, i, 4), qcol,
                    qtable, pg_get(r, i, 5), pcol, on_delete, child, pg_get(r, i, 5), pcol),
                "foreign key \"%s\" on table %s references \"%s\" (a partitioned table can be referenced only "
                "by a key that includes the partition column \"%s\")",
                conname, pg_get(r, i, 0), qname, p->column);
    }
    pg_result_free(r);
    r = NULL;

    if (!pg_exec(c,
                 "SELECT ci.relname, i.indisunique, con.contype::text,"
                 " EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) k(attnum) JOIN pg_attribute a"
                 "  ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE a.attname = $2)"
                 " FROM pg_index i JOIN pg_class ci ON ci.oid = i.indexrelid"
                 " LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid"
                 " WHERE i.indrelid = $1::oid AND NOT i.indisprimary AND (i.indisunique OR con.contype = 'x')"
                 " ORDER BY 1",
                 2, op, &r, err))
        goto done;
    for (int i = 0; i < pg_nrows(r); i++) {
        if (!strcmp(pg_get(r, i, 2), "x"))
            problem(rep, "drop the exclusion constraint before converting",
                    "exclusion constraint \"%s\" cannot be carried to a partitioned table", pg_get(r, i, 0));
        else if (pg_get(r, i, 3)[0] != 't')
            problem(rep, "add the partition column to the unique index, or drop it",
                    "unique index \"%s\" lacks the partition column \"%s\" (a partitioned table's unique keys must "
                    "include it)",
                    pg_get(r, i, 0), p->column);
    }
    pg_result_free(r);
    r = NULL;

    if (!pg_exec(c,
                 "SELECT tgname FROM pg_trigger WHERE tgrelid = $1::oid AND NOT tgisinternal"
                 " AND tgname NOT LIKE 'partmig\\_%' ORDER BY 1",
                 1, op, &r, err))
        goto done;
    for (int i = 0; i < pg_nrows(r); i++)
        problem(rep, "drop the trigger before converting and create it again on the converted table",
                "trigger \"%s\" on \"%s\" would not follow the rows to the new table", pg_get(r, i, 0), qname);
    pg_result_free(r);
    r = NULL;

    if (!pg_exec(c,
                 "SELECT DISTINCT v.oid::regclass::text, v.relkind::text FROM pg_depend d"
                 " JOIN pg_rewrite rw ON rw.oid = d.objid JOIN pg_class v ON v.oid = rw.ev_class"
                 " WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = $1::oid AND v.oid <> $1::oid"
                 " AND v.relkind <> 'v' ORDER BY 1",
                 1, op, &r, err))
        goto done;
    for (int i = 0; i < pg_nrows(r); i++)
        problem(rep, "drop the materialized view, convert, then create and refresh it again",
                "materialized view %s depends on \"%s\" and cannot be moved", pg_get(r, i, 0), qname);
    pg_result_free(r);
    r = NULL;

    if (!pg_exec(c,
                 "SELECT p.pubname FROM pg_publication p WHERE p.puballtables"
                 " OR EXISTS (SELECT 1 FROM pg_publication_rel pr WHERE pr.prpubid = p.oid AND pr.prrelid = $1::oid)"
                 " ORDER BY 1",
                 1, op, &r, err))
        goto done;
    for (int i = 0; i < pg_nrows(r); i++)
        problem(rep,
                "remove the table from the publication (ALTER PUBLICATION ... DROP TABLE), convert, then add the "
                "converted table with publish_via_partition_root = true",
                "\"%s\" is published by publication \"%s\"", qname, pg_get(r, i, 0));
    pg_result_free(r);
    r = NULL;

    if (!pg_exec(c,
                 "SELECT (SELECT count(*) FROM pg_inherits WHERE inhrelid = $1::oid OR inhparent = $1::oid),"
                 " current_setting('server_version_num')::int",
                 1, op, &r, err))
        goto done;
    if (pg_get_int(r, 0, 0) > 0)
        problem(rep, "convert the table's inheritance children first, or detach them (NO INHERIT)",
                "\"%s\" takes part in table inheritance", qname);
    /* PostgreSQL 15 and 16 attach a table that has its own identity column
     * (the partitioned parent gets one of its own); 17 refuses that
     * ("table being attached contains an identity column").  Not tested on 17. */
    if (f->nident > 0 && p->existing.method == EXISTING_ATTACH && pg_get_int(r, 0, 1) >= 170000)
        problem(rep, "use existing = { method = \"copy\" }, which carries identity columns over",
                "\"%s\" has identity column \"%s\", and this server (PostgreSQL 17 or later) refuses to attach such "
                "a table as a partition",
                qname, f->ident_cols[0]);
    pg_result_free(r);
    r = NULL;
    ok = true;
done:
    pg_result_free(r);
    return ok;
}

/* Rows that no partition would take, when the partitions do not follow the
 * data and there is no DEFAULT partition. */
static bool check_coverage(PgConn *c, const Policy *p, const TableFacts *f, Arena *a, Report *rep, Err *err)
{
    const char *qtable = quote_qualified_str(a, p->schema, p->table);
    const char *col = quote_ident_str(a, p->column);
    PgResult *r = NULL;
    bool ok = false;
    if (p->by == PART_RANGE && p->start) {
        if (!(catalog_key_is_time(&f->part_key) || f->part_key.kind == KEY_INTEGER))
            return true; /* an unsupported type is reported by the checks */
        const char *sql = arena_printf(a, "SELECT count(*), min(%s)::text, max(%s)::text FROM %s WHERE %s < %s", col,
                                       col, qtable, col, catalog_key_from_text_sql(a, &f->part_key, "$1::text"));
        const char *params[] = {p->start};
        if (!pg_exec(c, sql, 1, params, &r, err))
            goto done;
    } else if (p->by == PART_LIST) {
        Buf vals = {0};
        buf_putc(&vals, '{');
        for (int i = 0; i < p->nlists; i++)
            for (int j = 0; j < p->lists[i].values.n; j++) {
                if (vals.len > 1)
                    buf_putc(&vals, ',');
                buf_putc(&vals, '"');
                for (const char *s = p->lists[i].values.items[j]; *s; s++) {
                    if (*s == '"' || *s == '\\')
                        buf_putc(&vals, '\\');
                    buf_putc(&vals, *s);
                }
                buf_putc(&vals, '"');
            }
        buf_putc(&vals, '}');
        const char *sql = arena_printf(a,
                                       "SELECT count(*), min(%s::text), max(%s::text) FROM %s"
                                       " WHERE NOT (%s::text = ANY ($1::text[]))",
                                       col, col, qtable, col);
        const char *params[] = {buf_str(&vals)};
        bool qok = pg_exec(c, sql, 1, params, &r, err);
        buf_free(&vals);
        if (!qok)
            goto done;
    } else {
        return true;
    }
    int64_t outside = pg_get_int(r, 0, 0);
    if (outside > 0 && p->default_partition)
        note(rep, "%lld rows of \"%s\" fall outside the partitions (min %s, max %s): they go to the DEFAULT partition",
             (long long)outside, p->table, pg_get(r, 0, 1), pg_get(r, 0, 2));
    else if (outside > 0)
        problem(rep,
                p->by == PART_RANGE ? "remove `start` from the policy (partitions then cover the data), move start "
                                      "to before the minimum, or set default_partition = true"
                                    : "add the missing values to the policy's lists, or set default_partition = true",
                "%lld rows of \"%s\" are outside the partitions' coverage (min %s, max %s) and would be lost",
                (long long)outside, p->table, pg_get(r, 0, 1), pg_get(r, 0, 2));
    ok = true;
done:
    pg_result_free(r);
    return ok;
}

/* Relations that already carry the name of a partition the conversion
 * would create (a leftover, or a table of the user's). */
static bool check_partition_names(PgConn *c, const Policy *p, const TableFacts *f, Arena *a, Report *rep, Err *err)
{
    PartitionSpec *specs = NULL;
    int n = 0;
    const char *from = NULL, *to = NULL;
    Err ignored;
    if (!preflight_layout(p, f, a, &specs, &n, &from, &to, &ignored) || n == 0)
        return true; /* the layout's own problems are reported when it is made */
    Buf names = {0};
    buf_putc(&names, '{');
    for (int i = 0; i < n; i++) {
        buf_printf(&names, "%s\"", i ? "," : "");
        for (const char *q = specs[i].name; *q; q++) {
            if (*q == '"' || *q == '\\')
                buf_putc(&names, '\\');
            buf_putc(&names, *q);
        }
        buf_putc(&names, '"');
    }
    buf_putc(&names, '}');
    const char *params[] = {p->schema, buf_str(&names)};
    PgResult *r = NULL;
    bool ok = pg_exec(c,
                      "SELECT c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                      " WHERE n.nspname = $1 AND c.relname = ANY ($2::text[]) ORDER BY 1",
                      2, params, &r, err);
    buf_free(&names);
    if (!ok)
        return false;
    for (int i = 0; i < pg_nrows(r); i++)
        problem(rep,
                arena_printf(a, "rename or drop %s, or change the policy's naming",
                             quote_qualified_str(a, p->schema, pg_get(r, i, 0))),
                "relation \"%s\" (relkind '%s') exists and has the name of a partition the conversion creates",
                pg_get(r, i, 0), pg_get(r, i, 1));
    pg_result_free(r);
    return true;
}

/* An index the policy declares under a name an existing relation of the
 * schema has: the policy's index step (CREATE INDEX IF NOT EXISTS) would
 * take that relation for its own.  Fine only when it is the table's own
 * index of the same definition (the conversion moves it aside). */
static bool check_index_names(PgConn *c, const Policy *p, const TableFacts *f, Arena *a, Report *rep, Err *err)
{
    for (int j = 0; j < p->nindexes; j++) {
        const char *name = policy_index_name(&p->indexes[j], p, a);
        bool same = false;
        for (int i = 0; i < f->nix; i++)
            if (!strcmp(f->ix_names[i], name) && f->ix_policy_index[i] == j)
                same = true;
        if (same)
            continue;
        const char *params[] = {p->schema, name};
        PgResult *r = NULL;
        if (!pg_exec(c,
                     "SELECT c.relkind::text, coalesce((SELECT i.indrelid::regclass::text FROM pg_index i"
                     " WHERE i.indexrelid = c.oid), '') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                     " WHERE n.nspname = $1 AND c.relname = $2",
                     2, params, &r, err))
            return false;
        if (pg_nrows(r) > 0)
            problem(rep,
                    arena_printf(a, "rename %s, or give the policy's index another name (name = \"...\")",
                                 quote_qualified_str(a, p->schema, name)),
                    "the policy's index \"%s\" has the name of an existing %s%s%s, which is not that index", name,
                    pg_get(r, 0, 0)[0] == 'i' || pg_get(r, 0, 0)[0] == 'I' ? "index" : "relation",
                    pg_get(r, 0, 1)[0] ? " on " : "", pg_get(r, 0, 1));
        pg_result_free(r);
    }
    return true;
}

/* The workload check (workload.c): frequent statements on the table that
 * could not prune partitions once it is partitioned are warnings, or
 * problems under --require-pruning (as is a check that could not run). */
static bool check_workload(const Policy *p, const ConvertOptions *o, const TableFacts *f, Arena *a, Report *rep,
                           Err *err)
{
    PartitionSpec *specs = NULL;
    int n = 0;
    const char *from = NULL, *to = NULL;
    Err ignored;
    if (!preflight_layout(p, f, a, &specs, &n, &from, &to, &ignored))
        return true; /* the layout's own problems are reported when it is made */
    WorkloadTarget t = {.schema = p->schema,
                        .table = p->table,
                        .column = p->column,
                        .by = p->by == PART_LIST   ? "LIST"
                              : p->by == PART_HASH ? "HASH"
                                                   : "RANGE",
                        .specs = specs,
                        .nspecs = n,
                        .pk = f->new_pk,
                        .npk = f->nnew_pk,
                        /* attach: the old table, then partitions from its end (the shape
                         * still tells whether a statement prunes) */
                        .partitions = p->existing.method == EXISTING_ATTACH ? 0 : n};
    WorkloadReport local = {0}, *w = o && o->workload ? o->workload : &local;
    workload_report_free(w);
    /* its own session: the statements it plans may call their roles' code,
     * which must not reach the state of partmig's session (the runner's
     * advisory lock, prepared statements); closed with all it left */
    Err ce;
    bool ok = true;
    PgConn *wc = pg_connect(o ? o->db_url : NULL, &ce);
    if (wc && !catalog_session_setup(wc, &ce)) {
        pg_close(wc);
        wc = NULL;
    }
    if (wc) {
        ok = workload_check(wc, &t, w, err);
        pg_close(wc);
    } else {
        memset(w, 0, sizeof *w);
        w->table = arena_printf(&w->arena, "%s.%s", t.schema, t.table);
        w->column = arena_strdup(&w->arena, t.column);
        w->partitions = t.partitions;
        w->skipped = arena_printf(&w->arena, "cannot open a connection of its own: %s", ce.msg);
    }
    if (ok)
        workload_format(w, !(o && o->require_pruning), &rep->notes); /* else they are problems */
    if (ok && o && o->require_pruning && !w->ran)
        problem(rep,
                "make pg_stat_statements readable in this database (the library in shared_preload_libraries, "
                "CREATE EXTENSION pg_stat_statements), or apply without --require-pruning",
                "--require-pruning: the workload check of \"%s\" could not run: %s", w->table, w->skipped);
    for (int i = 0; ok && o && o->require_pruning && i < w->n; i++) {
        const WorkloadStatement *st = &w->st[i];
        if (st->checked && !st->prunes)
            problem(rep, arena_printf(a, "%s (apply without --require-pruning to accept it)", workload_hint(w, a)),
                    "a frequent statement on \"%s\" cannot prune partitions (%lld calls, mean %.3f ms): %s", w->table,
                    st->calls, st->mean_ms, st->shown);
    }
    workload_report_free(&local);
    return ok;
}

bool convert_preflight(PgConn *c, const Policy *p, const ConvertOptions *o, Err *err)
{
    Arena a = {0};
    Report rep = {0};
    bool ok = false;
    TableFacts f;
    const char *qname = policy_qualified_name(p, &a);

    if (!preflight_gather(c, p, &a, &f, err))
        goto done;
    if (!f.exists) {
        err_set(err, PM_EDB, "table \"%s\" does not exist", qname);
        err_hint(err, "create it first, or give the policy `columns` so that partmig creates it");
        goto done;
    }
    if (f.relkind != 'r') {
        err_set(err, PM_EDB, "\"%s\" is not a plain table (relkind '%c'): nothing to convert", qname, f.relkind);
        goto done;
    }
    if (p->existing.method == EXISTING_NONE) {
        err_set(err, PM_EINPUT,
                "table \"%s\" exists and is not partitioned, and the policy says existing.method = "
                "\"none\"",
                qname);
        err_hint(err, "set existing = { method = \"copy\" } (online copy) or \"attach\" (zero-copy) in the policy");
        goto done;
    }

    /* the partition column */
    if (!f.part_type) {
        problem(&rep, "name an existing column in the policy's `column`", "column \"%s\" does not exist in \"%s\"",
                p->column, qname);
    } else {
        bool type_ok = true;
        if (p->by == PART_RANGE && p->interval.unit == UNIT_INTEGER)
            type_ok = f.part_key.kind == KEY_INTEGER;
        else if (p->by == PART_RANGE)
            type_ok = catalog_key_is_time(&f.part_key);
        if (!type_ok)
            problem(&rep,
                    "use a timestamp, timestamptz or date column for time intervals, an integer column for "
                    "integer steps",
                    "partition column \"%s\" has type %s, which the policy's interval does not fit", p->column,
                    f.part_type);
        if (!f.part_notnull) {
            PgResult *r = NULL;
            const char *sql =
                arena_printf(&a, "SELECT count(*) FROM %s WHERE %s IS NULL",
                             quote_qualified_str(&a, p->schema, p->table), quote_ident_str(&a, p->column));
            if (!pg_exec(c, sql, 0, NULL, &r, err))
                goto done;
            int64_t nulls = pg_get_int(r, 0, 0);
            pg_result_free(r);
            if (nulls > 0)
                problem(&rep,
                        arena_printf(&a, "give those rows a value, then ALTER TABLE %s ALTER COLUMN %s SET NOT NULL",
                                     quote_qualified_str(&a, p->schema, p->table), quote_ident_str(&a, p->column)),
                        "partition column \"%s\" has %lld NULL values, which no range partition accepts", p->column,
                        (long long)nulls);
            else
                problem(&rep,
                        arena_printf(&a, "ALTER TABLE %s ALTER COLUMN %s SET NOT NULL",
                                     quote_qualified_str(&a, p->schema, p->table), quote_ident_str(&a, p->column)),
                        "partition column \"%s\" is nullable (no NULLs now, but nothing stops them)", p->column);
        }
    }

    /* attach makes the old table one range partition: nothing else fits */
    if (p->existing.method == EXISTING_ATTACH && p->by != PART_RANGE)
        problem(&rep, "use existing = { method = \"copy\" }, which fills hash and list partitions",
                "existing.method = \"attach\" needs a range policy (the old table becomes the first range "
                "partition), and \"%s\" is partitioned by %s",
                qname, p->by == PART_HASH ? "hash" : "list");
    /* the same test the attach itself makes (f.nnew_pk: the new table's
     * key), so that a table keyed only by a unique index is refused here,
     * before anything is recorded, and not by the attach after it */
    if (p->existing.method == EXISTING_ATTACH && f.nnew_pk == 0)
        problem(&rep,
                f.key_index
                    ? arena_printf(&a,
                                   "add `primary_key = { %s }` (the columns of unique index \"%s\") to the policy "
                                   "of \"%s\", or use existing = { method = \"copy\" }",
                                   quoted_names(&a, f.key, f.nkey), f.key_index, p->table)
                    : arena_printf(&a,
                                   "add a primary key to the table, or `primary_key = { \"id\", \"%s\" }` (your key "
                                   "columns) to the policy of \"%s\"",
                                   p->column, p->table),
                "\"%s\" has no primary key and the policy names none: the partitioned table would have no key", qname);

    /* keys */
    const char *pk_list = join_names(&a, f.key, f.nkey);
    if (f.nkey == 0 && p->existing.method == EXISTING_COPY) {
        /* a column name the table does not have */
        const char *col = "id";
        for (int i = 0; i < f.ncols; i++)
            if (!strcmp(f.cols[i], col)) {
                col = arena_printf(&a, "%s_", col);
                i = -1;
            }
        problem(&rep,
                arena_printf(&a,
                             "run `ALTER TABLE %s ADD COLUMN %s bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY` "
                             "(it rewrites the table under an exclusive lock), or make a unique index over NOT NULL "
                             "columns, then apply again",
                             quote_qualified_str(&a, p->schema, p->table), quote_ident_str(&a, col)),
                "\"%s\" has no primary key and no unique index over NOT NULL columns, which the copy needs to walk "
                "the table in key order",
                qname);
    } else if (f.key_index)
        note(&rep, "\"%s\" has no primary key: the copy walks unique index \"%s\" (%s)%s", p->table, f.key_index,
             pk_list,
             p->primary_key.n > 0 ? "" : "; the converted table has no primary key either (the policy names none)");
    if (f.nkey > 0 && !f.key_index && !f.pk_has_partkey && p->primary_key.n == 0)
        problem(&rep,
                arena_printf(&a,
                             "add `primary_key = { %s }` to the policy of \"%s\"; partmig then gives the "
                             "partitioned table that key",
                             arena_printf(&a, "\"%s\", \"%s\"", f.key[0], p->column), p->table),
                "primary key (%s) of \"%s\" lacks the partition column \"%s\" (a partitioned table's primary key must "
                "include it)",
                pk_list, qname, p->column);
    if (p->primary_key.n > 0) {
        bool has_col = false, covers_old = f.nkey > 0;
        for (int i = 0; i < p->primary_key.n; i++)
            if (!strcmp(p->primary_key.items[i], p->column))
                has_col = true;
        for (int i = 0; i < f.nkey; i++) {
            bool in = false;
            for (int j = 0; j < p->primary_key.n; j++)
                in = in || !strcmp(f.key[i], p->primary_key.items[j]);
            covers_old = covers_old && in;
        }
        if (!has_col)
            problem(&rep, "add the partition column to the policy's primary_key",
                    "the policy's primary_key lacks the partition column \"%s\"", p->column);
        else if (!covers_old && f.nkey > 0)
            problem(&rep, "make the policy's primary_key the old key plus the partition column",
                    "the policy's primary_key does not contain the table's primary key (%s): rows unique today could "
                    "collide",
                    pk_list);
    }

    if (!check_catalog(c, p, &f, &a, &rep, err))
        goto done;
    if (f.part_type && f.part_notnull && !check_coverage(c, p, &f, &a, &rep, err))
        goto done;
    if (f.part_type && !check_partition_names(c, p, &f, &a, &rep, err))
        goto done;
    if (!check_index_names(c, p, &f, &a, &rep, err))
        goto done;

    if (f.replident == 'i')
        problem(&rep, "ALTER TABLE ... REPLICA IDENTITY DEFAULT before converting, set it again afterwards",
                "\"%s\" uses an index as replica identity", qname);
    else if (f.replident == 'f')
        note(&rep, "replica identity FULL of \"%s\" is set on the converted table too", p->table);

    for (int i = 0; i < f.nseqs; i++)
        note(&rep, "sequence %s (column \"%s\") moves to the converted table; inserts keep numbering", f.seqs[i],
             f.seq_cols[i]);
    for (int i = 0; i < f.nident; i++)
        note(&rep,
             "identity column \"%s\" (GENERATED %s) stays an identity column of the converted table with the same "
             "sequence options; its sequence continues after the old one's last value",
             f.ident_cols[i], f.ident_kinds[i] == 'a' ? "ALWAYS" : "BY DEFAULT");
    for (int i = 0; i < f.nviews; i++)
        note(&rep, "view %s is moved to the converted table in the swap", f.views[i]);
    if (f.nfk > 0)
        note(&rep, "%d foreign key(s) of \"%s\" are created on the converted table", f.nfk, p->table);
    note(&rep, "grants and the owner (%s) of \"%s\" are copied to the converted table", f.owner, p->table);
    if (f.ncolacl > 0)
        note(&rep, "column privileges on %d column(s) of \"%s\" are granted again on the converted table", f.ncolacl,
             p->table);
    if (f.rls || f.rls_forced || f.npolicies > 0)
        note(&rep, "row level security of \"%s\" (%s%s, %d polic%s) is set on the converted table in the swap",
             p->table, f.rls ? "enabled" : "disabled", f.rls_forced ? ", forced" : "", f.npolicies,
             f.npolicies == 1 ? "y" : "ies");
    /* the copy reads the old table as the current user: under row security
     * it would see (and copy, and count) only the rows the policies show */
    if (f.rls && !f.rls_bypassed)
        problem(&rep,
                "run partmig as a superuser, a role with BYPASSRLS, or the table's owner (with row level security "
                "not forced)",
                "row level security of \"%s\" hides rows from the current user, so the conversion could not copy "
                "or verify all of them",
                qname);
    if (f.nreloptions > 0)
        note(&rep,
             "storage parameters of \"%s\" (%s) are set on each partition the conversion creates; partitions made "
             "later by maintain do not get them",
             p->table, join_names(&a, f.reloptions, f.nreloptions));

    if (f.part_type && !check_workload(p, o, &f, &a, &rep, err))
        goto done;

    fputs(buf_str(&rep.notes), stderr);
    if (rep.n > 0) {
        err_set(err, PM_EINPUT, "cannot convert \"%s\": pre-flight found %d problem%s, nothing was changed%s", qname,
                rep.n, rep.n == 1 ? "" : "s", buf_str(&rep.problems));
        if (strlen(buf_str(&rep.problems)) + 120 >= sizeof err->msg)
            fprintf(stderr, "partmig: pre-flight problems of \"%s\":%s\n", qname, buf_str(&rep.problems));
        err_hint(err, "apply each fix above, then run apply again");
        goto done;
    }
    ok = true;
done:
    buf_free(&rep.problems);
    buf_free(&rep.notes);
    arena_free(&a);
    return ok;
}
