/* shown.c: the SQL a runtime step runs, shown in its comment with named placeholders. */
#include "shown.h"

#include <string.h>

#include "../common/arena.h"
#include "../common/quote.h"
#include "../model/partitions.h"

const char shown_legend[] =
    "\"the runtime runs\" blocks show a runtime step's SQL, commented; a :name in them is a value only the\n"
    "database supplies at apply time: :id the conversion's number; :lower_bound and :upper_bound partition\n"
    "bounds from the rows and the clock; :partition a partition's name (:partition_pkey, :partition_index,\n"
    ":partition_<suffix> its indexes'); :key the existing table's primary key columns, :key_lo and :key_hi a\n"
    "batch's first and last key; :column the policy's column; :columns the existing table's columns;\n"
    ":index_definition one of its indexes (columns, method, predicate), :n that index's number, :old_pkey its\n"
    "primary key's name; :each_column and :target each column of the new table and its statistics target;\n"
    ":round the log entries one re-copy round takes;\n"
    ":quiet the setting partmig.conv_:id_quiet, which keeps the undo log's trigger silent in partmig's session;\n"
    ":policy the table's policy";

/* NAME + SUFFIX within 63 bytes, cut from NAME: how the runtime names the
 * conversion's tables and indexes. */
static const char *name63(Arena *a, const char *base, const char *suffix)
{
    size_t bl = strlen(base), sl = strlen(suffix);
    if (bl + sl > 63)
        bl = 63 - sl;
    return arena_printf(a, "%.*s%s", (int)bl, base, suffix);
}

static const char *qualified(Arena *a, const char *schema, const char *name)
{
    Buf q = {0};
    quote_qualified(&q, schema, name);
    const char *s = arena_strdup(a, buf_str(&q));
    buf_free(&q);
    return s;
}

static const char *ident(Arena *a, const char *name)
{
    Buf q = {0};
    quote_ident(&q, name);
    const char *s = arena_strdup(a, buf_str(&q));
    buf_free(&q);
    return s;
}

/* NAME as PostgreSQL prints it in an index definition: bare when it is a
 * plain lowercase name, else quoted (keywords are not looked up). */
static void ident_as_printed(Buf *q, const char *name)
{
    bool plain = *name && !(*name >= '0' && *name <= '9') &&
                 strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(name);
    if (plain)
        buf_append(q, name);
    else
        quote_ident(q, name);
}

static const char *column_list(Arena *a, const StrList *cols)
{
    Buf q = {0};
    for (int i = 0; i < cols->n; i++) {
        if (i)
            buf_append(&q, ", ");
        quote_ident(&q, cols->items[i]);
    }
    const char *s = arena_strdup(a, buf_str(&q));
    buf_free(&q);
    return s;
}

/* SQL lines of TEXT two spaces in, with a quoted placeholder ("":partition_0"",
 * as quote_ident writes a name that starts with ':') unquoted. */
static void sql_lines(Buf *out, const char *text)
{
    bool line_start = true;
    for (const char *c = text; *c; c++) {
        if (line_start && *c != '\n')
            buf_append(out, "  ");
        line_start = *c == '\n';
        if (c[0] == '"' && c[1] == ':') {
            size_t n = strspn(c + 1, ":abcdefghijklmnopqrstuvwxyz0123456789_");
            if (c[1 + n] == '"') {
                buf_appendn(out, c + 1, n);
                c += n + 1;
                continue;
            }
        }
        buf_putc(out, *c);
    }
    while (out->len && out->data[out->len - 1] == '\n')
        out->data[--out->len] = '\0';
    buf_putc(out, '\n');
}

/* The policy's naming template with {table} filled in: "t_p{YYYY}_{MM}". */
static const char *naming_shown(Arena *a, const Policy *p)
{
    const char *tpl = policy_naming(p);
    const char *at = strstr(tpl, "{table}");
    if (!at)
        return tpl;
    return arena_printf(a, "%.*s%s%s", (int)(at - tpl), tpl, p->table, at + strlen("{table}"));
}

static const char *interval_shown(Arena *a, Interval iv)
{
    Buf t = {0};
    interval_format(&t, iv);
    const char *s = arena_strdup(a, buf_str(&t));
    buf_free(&t);
    return s;
}

/* The range partitions of PARENT as one statement with placeholders (and
 * its subpartitions), then the fixed ones (list, hash, DEFAULT) as they are. */
static void partition_lines(Buf *out, Arena *a, const Policy *p, const char *parent, bool with_range)
{
    Buf q = {0};
    if (with_range && p->by == PART_RANGE) {
        PartitionSpec ps = {.name = ":partition", .bound_sql = "FOR VALUES FROM (:lower_bound) TO (:upper_bound)"};
        partition_create_sql(&q, p, parent, &ps);
    }
    PartitionSpec *fixed = NULL;
    int nfixed = 0;
    partitions_fixed(p, a, &fixed, &nfixed);
    for (int i = 0; i < nfixed; i++)
        partition_create_sql(&q, p, parent, &fixed[i]);
    if (q.len)
        sql_lines(out, buf_str(&q));
    buf_free(&q);
}

static void range_note(Buf *out, Arena *a, const Policy *p, const char *from)
{
    if (p->by != PART_RANGE)
        return;
    buf_printf(out, "one partition per %s from %s through now + %d (%s), :partition named %s:\n",
               interval_shown(a, p->interval), from, p->premake, p->timezone, naming_shown(a, p));
}

static const char *like_all(void)
{
    return "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED "
           "INCLUDING COMPRESSION INCLUDING IDENTITY";
}

static const char *by_sql(PartBy by)
{
    return by == PART_LIST ? "LIST" : by == PART_HASH ? "HASH" : "RANGE";
}

/* ":partition_<suffix>": a partition's copy of the policy's index NAME, as
 * the runtime names it (the name without its "<table>_" prefix). */
static const char *policy_suffix(const Policy *p, const char *name)
{
    size_t tl = strlen(p->table);
    return !strncmp(name, p->table, tl) && name[tl] == '_' ? name + tl + 1 : name;
}

/* "USING method ("a", "b")" of the policy's index IX, as the runtime writes it. */
static const char *policy_using(Arena *a, const IndexSpec *ix)
{
    return arena_printf(a, "USING %s (%s)", ix->method ? ix->method : "btree", column_list(a, &ix->columns));
}

/* Step 4 of the copy method: every index of the new table (the policy's
 * own under staged names "pm<id>_pix<n>", renamed in the swap), per
 * partition over the job connections, then the parent's (on the whole
 * table, or ON ONLY with each partition's attached); then the
 * statistics. */
static void index_lines(Buf *out, Buf *q, Arena *a, const Policy *p, const char *s, const char *shadow)
{
    const char *sch = ident(a, p->schema);
    buf_append(out,
               "4. every index of the new table, partition by partition over the job connections (a few partitions "
               "per\nround trip and transaction: ");
    if (p->primary_key.n)
        buf_append(out, "the policy's primary key, ");
    else
        buf_append(out, "the old table's primary key or unique key, ");
    buf_append(out, "a copy of each of the old table's other indexes\n(each :index_definition; UNIQUE when it is)");
    if (p->nindexes)
        buf_append(out, ", the policy's own indexes (\"pm:id_pix:n\" on the parent until the swap\nrenames them)");
    buf_append(out, "), then the parent's, each made on the whole new table, which attaches each partition's index of\n"
                    "its definition:\n");
    if (p->primary_key.n)
        buf_printf(q, "ALTER TABLE %s.:partition ADD CONSTRAINT :partition_pkey PRIMARY KEY (%s);\n", sch,
                   column_list(a, &p->primary_key));
    buf_printf(q, "CREATE INDEX IF NOT EXISTS :partition_index ON %s.:partition :index_definition;\n", sch);
    for (int j = 0; j < p->nindexes; j++) {
        const IndexSpec *ix = &p->indexes[j];
        buf_printf(q, "CREATE %sINDEX IF NOT EXISTS :partition_%s ON %s.:partition %s;\n", ix->unique ? "UNIQUE " : "",
                   policy_suffix(p, policy_index_name(ix, p, a)), sch, policy_using(a, ix));
    }
    for (int whole = 1; whole >= 0; whole--) {
        const char *only = whole ? "" : "ONLY ";
        if (p->primary_key.n)
            buf_printf(q, "ALTER TABLE %s%s ADD CONSTRAINT %s PRIMARY KEY (%s);\n", only, s,
                       ident(a, name63(a, shadow, "_pkey")), column_list(a, &p->primary_key));
        if (!whole && p->primary_key.n)
            buf_printf(q, "ALTER INDEX %s ATTACH PARTITION %s.:partition_pkey;\n",
                       qualified(a, p->schema, name63(a, shadow, "_pkey")), sch);
        buf_printf(q, "CREATE INDEX IF NOT EXISTS \"pm:id_ix:n\" ON %s%s :index_definition;\n", only, s);
        if (!whole)
            buf_printf(q, "ALTER INDEX %s.\"pm:id_ix:n\" ATTACH PARTITION %s.:partition_index;\n", sch, sch);
        for (int j = 0; j < p->nindexes; j++) {
            const IndexSpec *ix = &p->indexes[j];
            buf_printf(q, "CREATE %sINDEX IF NOT EXISTS \"pm:id_pix%d\" ON %s%s %s;\n", ix->unique ? "UNIQUE " : "", j,
                       only, s, policy_using(a, ix));
            if (!whole)
                buf_printf(q, "ALTER INDEX %s.\"pm:id_pix%d\" ATTACH PARTITION %s.:partition_%s;\n", sch, j, sch,
                           policy_suffix(p, policy_index_name(ix, p, a)));
        }
        sql_lines(out, buf_str(q));
        buf_reset(q);
        if (whole)
            buf_append(out, "or, for an index of the same columns as another of the table, or one an interrupted apply "
                            "made, ON ONLY,\neach partition's attached:\n");
    }
    buf_append(out, "then the statistics, in one ANALYZE of the new table:\n");
    buf_printf(q, "ANALYZE %s;", s);
    sql_lines(out, buf_str(q));
    buf_reset(q);
    buf_append(out, "or, with jobs > 1 and partitions of 10000 rows or more on average, first the parent's (each of "
                    "its\n"
                    "columns :each_column at the session's :target, the partitions' at 1), then each partition's "
                    "after its\n"
                    "indexes, over the job connections:\n");
    buf_printf(q,
               "SET LOCAL default_statistics_target = 1;\n"
               "ALTER TABLE ONLY %s ALTER COLUMN :each_column SET STATISTICS :target;\n"
               "ANALYZE %s;\n"
               "ALTER TABLE ONLY %s ALTER COLUMN :each_column SET STATISTICS -1;\n"
               "ANALYZE %s.:partition;",
               s, s, s, sch);
    sql_lines(out, buf_str(q));
}

static void conversion_copy(Buf *out, Arena *a, const Policy *p)
{
    const char *shadow = name63(a, p->table, "_partmig_new"), *kept = name63(a, p->table, "_partmig_old");
    const char *t = qualified(a, p->schema, p->table), *s = qualified(a, p->schema, shadow);
    const char *from = p->start ? arena_printf(a, "the start (%s)", p->start) : "the oldest row's";
    Buf q = {0};
    buf_printf(out,
               "\nthe runtime runs, when %s is a plain table (the copy method; the new table is %s,\n"
               "or %s2, %s3, ... when that name is taken):\n",
               t, shadow, shadow, shadow);
    buf_append(out, "1. the partitioned table beside the old one (its foreign keys, owner, storage options and\n"
                    "replica identity follow), with the partitions its rows need:\n");
    buf_printf(&q, "CREATE TABLE %s (LIKE %s %s) PARTITION BY %s (%s);", s, t, like_all(), by_sql(p->by),
               ident(a, p->column));
    sql_lines(out, buf_str(&q));
    range_note(out, a, p, from);
    partition_lines(out, a, p, shadow, true);
    buf_printf(out,
               "2. change capture: the key of every row written from now on goes to partmig's change log (:key "
               "and\n"
               ":column, the policy's column %s, recorded for the conversion; the log partmig.conv_:id_log, a\n"
               "trigger function made for the table, partmig.conv_:id_capture, and the triggers partmig_capture "
               "and\n"
               "partmig_no_truncate; the functions' bodies are in partmig's sql/conversion.sql):\n",
               ident(a, p->column));
    buf_reset(&q);
    buf_append(&q, "SELECT partmig.conversion_set_keys(:id, :key, :column);\n"
                   "SELECT partmig.conversion_install_capture(:id);");
    sql_lines(out, buf_str(&q));
    buf_printf(out,
               "3. the copy, in batches of %d keys of the table's primary key (:key), %d job%s, a transaction "
               "each,\nthe first batch, then the others:\n",
               p->existing.batch_size, p->existing.jobs, p->existing.jobs == 1 ? "" : "s");
    buf_reset(&q);
    buf_printf(&q,
               "INSERT INTO %s (:columns) SELECT :columns FROM %s WHERE (:key) <= (:key_hi);\n"
               "INSERT INTO %s (:columns) SELECT :columns FROM %s WHERE (:key) > (:key_lo) AND (:key) <= (:key_hi);",
               s, t, s, t);
    sql_lines(out, buf_str(&q));
    buf_reset(&q);
    if (p->subpartition.set) {
        /* sub-partitioned: built on the parent, PostgreSQL recursing */
        if (p->primary_key.n) {
            buf_append(out, "4. the policy's primary key, then the old table's other indexes (each :index_definition; "
                            "UNIQUE\nwhen it is)");
            buf_printf(&q, "ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (%s);\n", s,
                       ident(a, name63(a, shadow, "_pkey")), column_list(a, &p->primary_key));
        } else {
            buf_append(out, "4. the old table's primary key or unique key and its other indexes (each "
                            ":index_definition;\nUNIQUE when it is)");
        }
        if (p->nindexes)
            buf_append(out, ", then the policy's own indexes (\"pm:id_pix:n\" until the swap\nrenames them)");
        buf_append(out, ", built on the parent, PostgreSQL recursing:\n");
        buf_printf(&q, "CREATE INDEX IF NOT EXISTS \"pm:id_ix:n\" ON %s :index_definition;\n", s);
        for (int j = 0; j < p->nindexes; j++)
            buf_printf(&q, "CREATE %sINDEX IF NOT EXISTS \"pm:id_pix%d\" ON %s %s;\n",
                       p->indexes[j].unique ? "UNIQUE " : "", j, s, policy_using(a, &p->indexes[j]));
        buf_printf(&q, "ANALYZE %s;", s);
        sql_lines(out, buf_str(&q));
    } else
        index_lines(out, &q, a, p, s, shadow);
    buf_append(out, "5. the keys changed meanwhile re-copied until few wait (partmig.conversion_resync, in "
                    "sql/conversion.sql;\n"
                    ":round log entries a round: 100 first, halved after a round over 80 ms down to 50, doubled "
                    "after a fast\n"
                    "one up to 1000),\n"
                    "the rows counted partition by partition in one snapshot, then the undo log made with its trigger "
                    "on the\n"
                    "new table (partmig.conversion_install_undo_log: a row deleted, or moved to another key or "
                    "partition,\n"
                    "logs its key in partmig.conv_:id_undo; rows inserted or updated in place are found by an xmin "
                    "the\n"
                    "swap's snapshot does not see; partmig's own session sets the setting :quiet, so it logs from the "
                    "swap\n"
                    "on),\n"
                    "the keys re-copied again, then\n"
                    "the swap, in one transaction (the old table's other indexes and identity sequences are renamed "
                    "like its\n"
                    "primary key; owner, grants, row security and views carried over):\n");
    buf_reset(&q);
    buf_printf(&q,
               "SELECT partmig.conversion_resync(:id, :round, false);\n"
               "SELECT partmig.conversion_install_undo_log(:id, :quiet);\n"
               "LOCK TABLE %s, %s IN ACCESS EXCLUSIVE MODE;\n"
               "SELECT partmig.conversion_resync(:id, NULL, true);\n"
               "DROP TRIGGER partmig_capture ON %s;\n"
               "DROP TRIGGER partmig_no_truncate ON %s;\n"
               "ALTER TABLE %s RENAME TO %s;\n"
               "ALTER TABLE %s RENAME TO %s;\n",
               s, t, t, t, t, ident(a, kept), s, ident(a, p->table));
    buf_printf(&q, "ALTER INDEX %s.:old_pkey RENAME TO \"pm:id_old_pkey\";\n", ident(a, p->schema));
    buf_printf(&q, "ALTER INDEX %s RENAME TO :old_pkey;\n", qualified(a, p->schema, name63(a, shadow, "_pkey")));
    for (int j = 0; j < p->nindexes; j++)
        buf_printf(&q, "ALTER INDEX %s.\"pm:id_pix%d\" RENAME TO %s;\n", ident(a, p->schema), j,
                   ident(a, policy_index_name(&p->indexes[j], p, a)));
    buf_printf(&q,
               "CREATE TRIGGER partmig_no_truncate BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION "
               "partmig.conversion_guard(':id');",
               t);
    sql_lines(out, buf_str(&q));
    buf_printf(out,
               "the old table stays as %s, as it was at the swap, until \"partmig finalize %s.%s\";\n"
               "partmig.conv_:id_undo names each key written since: \"partmig rollback\" re-copies those keys "
               "into it\n"
               "(partmig.conversion_resync_back) and swaps back; finalize compares the tables on every other key, "
               "then\n"
               "drops the old table and the log\n",
               kept, p->schema, p->table);
    buf_free(&q);
}

static void conversion_attach(Buf *out, Arena *a, const Policy *p)
{
    const char *kept = name63(a, p->table, "_legacy");
    const char *t = qualified(a, p->schema, p->table), *k = qualified(a, p->schema, kept);
    const char *check = ident(a, name63(a, p->table, "_partmig_range"));
    const char *key = ident(a, name63(a, p->table, "_partmig_key"));
    const char *col = ident(a, p->column), *pk = column_list(a, &p->primary_key);
    Buf q = {0};
    /* the old table's range: below the end of the interval holding the
     * newest row (or now, when later), from the policy's start if any */
    buf_printf(out,
               "\nthe runtime runs, when %s is a plain table (the attach method: it becomes the first partition, "
               "named\n"
               "%s, or %s2, ... when that name is taken; :upper_bound is the end of the interval holding the\n"
               "newest row, or now when later, %s):\n",
               t, kept, kept,
               p->start ? arena_printf(a, ":lower_bound the start (%s)", p->start)
                        : "and no lower bound, the policy having no start");
    buf_append(out, "1. the rows' range as a constraint, validated without blocking writes, and a unique index "
                    "with the\n"
                    "partition key when the table's primary key lacks it:\n");
    buf_printf(&q, "ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s < :upper_bound", t, check, col);
    if (p->start)
        buf_printf(&q, " AND %s >= :lower_bound", col);
    buf_printf(&q,
               ") NOT VALID;\n"
               "ALTER TABLE %s VALIDATE CONSTRAINT %s;\n"
               "CREATE UNIQUE INDEX CONCURRENTLY %s ON %s (%s);",
               t, check, key, t, pk);
    sql_lines(out, buf_str(&q));
    buf_append(out, "2. one short transaction (the old table's other indexes step aside and come back ON ONLY the "
                    "parent;\n"
                    "identity sequences, grants, row security and views carried over):\n");
    buf_reset(&q);
    buf_printf(&q,
               "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE;\n"
               "ALTER TABLE %s RENAME TO %s;\n"
               "ALTER TABLE %s ADD CONSTRAINT %s UNIQUE USING INDEX %s;\n"
               "CREATE TABLE %s (LIKE %s %s) PARTITION BY RANGE (%s);\n"
               "ALTER TABLE %s DROP CONSTRAINT %s;\n"
               "ALTER INDEX %s.:old_pkey RENAME TO %s;\n"
               "ALTER TABLE %s ADD CONSTRAINT :old_pkey PRIMARY KEY (%s);\n"
               "ALTER TABLE %s ATTACH PARTITION %s FOR VALUES FROM (%s) TO (:upper_bound);",
               t, t, ident(a, kept), k, key, key, t, k, like_all(), col, t, check, ident(a, p->schema),
               ident(a, name63(a, kept, "_pkey")), t, pk, t, k, p->start ? ":lower_bound" : "MINVALUE");
    sql_lines(out, buf_str(&q));
    range_note(out, a, p, ":upper_bound");
    partition_lines(out, a, p, p->table, true);
    buf_append(out, "3. the new table's statistics (autovacuum never gathers a partitioned table's):\n");
    buf_reset(&q);
    buf_printf(&q, "ANALYZE %s;", t);
    sql_lines(out, buf_str(&q));
    buf_free(&q);
}

void shown_conversion(Buf *out, const Policy *p)
{
    Arena a = {0};
    if (p->existing.method == EXISTING_COPY)
        conversion_copy(out, &a, p);
    else if (p->existing.method == EXISTING_ATTACH && p->by == PART_RANGE && p->primary_key.n)
        conversion_attach(out, &a, p);
    arena_free(&a);
}

void shown_premake(Buf *out, const Policy *p)
{
    Arena a = {0};
    const char *t = qualified(&a, p->schema, p->table);
    buf_printf(out, "\nthe runtime runs, for each partition that is missing (a range an existing partition covers is "
                    "skipped):\n");
    Buf q = {0};
    buf_printf(&q, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE;", t);
    sql_lines(out, buf_str(&q));
    buf_free(&q);
    if (p->by == PART_RANGE) {
        range_note(out, &a, p, p->start ? arena_printf(&a, "the start (%s)", p->start) : "the oldest row's");
        partition_lines(out, &a, p, p->table, true);
    } else {
        partition_lines(out, &a, p, p->table, false);
        if (p->by == PART_LIST && p->default_partition)
            buf_append(out, "(a new list value's rows in DEFAULT are moved: CREATE TABLE ... (LIKE ...), DELETE ... "
                            "RETURNING into it,\n"
                            "counted, then ALTER TABLE ... ATTACH PARTITION)\n");
    }
    arena_free(&a);
}

void shown_build_index(Buf *out, const Policy *p, const IndexSpec *ix, const char *name)
{
    Arena a = {0};
    size_t tl = strlen(p->table);
    const char *suffix = !strncmp(name, p->table, tl) && name[tl] == '_' ? name + tl + 1 : name;
    buf_printf(out,
               "\nthe index valid already (a copy conversion builds it before its swap), the step only records "
               "its\n"
               "partitions' indexes; else (an attach conversion, a created table) the runtime runs, for each "
               "partition\n"
               ":partition (its index :partition_%s, a hashed name when taken; a subpartitioned partition gets\n"
               "ON ONLY and its own partitions the same):\n",
               suffix);
    Buf q = {0}, cols = {0};
    /* the columns as PostgreSQL prints the parent index, which the runtime reads back */
    for (int i = 0; i < ix->columns.n; i++) {
        if (i)
            buf_append(&cols, ", ");
        ident_as_printed(&cols, ix->columns.items[i]);
    }
    buf_printf(&q,
               "CREATE %sINDEX CONCURRENTLY IF NOT EXISTS :partition_%s ON %s.:partition USING %s (%s);\n"
               "ALTER INDEX %s ATTACH PARTITION %s.:partition_%s;",
               ix->unique ? "UNIQUE " : "", suffix, ident(&a, p->schema), ix->method ? ix->method : "btree",
               buf_str(&cols), qualified(&a, p->schema, name), ident(&a, p->schema), suffix);
    buf_free(&cols);
    sql_lines(out, buf_str(&q));
    buf_free(&q);
    arena_free(&a);
}

void shown_register(Buf *out, const char *qname, int version)
{
    Buf q = {0};
    buf_append(out, "\nthe runtime runs (:policy: this table's policy, as in the last lines of the file):\n");
    buf_append(&q, "INSERT INTO partmig.policies (table_name, policy, version) VALUES (");
    quote_literal(&q, qname);
    buf_printf(&q,
               ", :policy, %d)\n"
               "    ON CONFLICT (table_name) DO UPDATE SET policy = excluded.policy, version = excluded.version, "
               "registered_at = now();",
               version);
    sql_lines(out, buf_str(&q));
    buf_free(&q);
}

void shown_unregister(Buf *out, const char *qname)
{
    Buf q = {0};
    buf_append(out, "\nthe runtime runs:\n");
    buf_append(&q, "DELETE FROM partmig.policies WHERE table_name = ");
    quote_literal(&q, qname);
    buf_append(&q, ";");
    sql_lines(out, buf_str(&q));
    buf_free(&q);
}
