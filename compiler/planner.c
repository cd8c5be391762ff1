/* planner.c: diff old and new policy state into the steps of one migration. */
#include "planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/fs.h"
#include "../model/plan.h"
#include "../common/quote.h"
#include "../model/partitions.h"
#include "shown.h"

/* The migration under construction. */
typedef struct Builder {
    Arena *arena;
    Migration *m;
    int steps_cap;
    Buf header;       /* change descriptions */
    const char *kind; /* the one kind of change so far, "changes" when mixed, NULL when none */
    const char *first_source;
    bool used_as_of; /* a static range partition list depends on --as-of */
    bool shown;      /* a step shows the SQL the runtime runs, with placeholders */
    int version;     /* of the migration being built */
} Builder;

static Step *add_step(Builder *b, StepAction action, const Policy *p, bool transactional, UndoKind undo,
                      const char *lock_kind)
{
    Migration *m = b->m;
    if (m->nsteps == b->steps_cap) {
        b->steps_cap = b->steps_cap ? b->steps_cap * 2 : 8;
        m->steps = arena_grow(b->arena, m->steps, (size_t)m->nsteps, (size_t)b->steps_cap, sizeof *m->steps);
    }
    Step *s = &m->steps[m->nsteps];
    s->number = ++m->nsteps;
    s->action = action;
    s->transactional = transactional;
    s->undo = undo;
    s->table = policy_qualified_name(p, b->arena);
    s->lock = lock_kind ? arena_printf(b->arena, "%s on %s", lock_kind, s->table) : "none";
    return s;
}

static void add_arg(Builder *b, Step *s, const char *key, const char *value)
{
    s->args = arena_grow(b->arena, s->args, (size_t)s->nargs, (size_t)s->nargs + 1, sizeof *s->args);
    s->args[s->nargs].key = key;
    s->args[s->nargs].value = value;
    s->nargs++;
}

static void note_kind(Builder *b, const char *kind)
{
    if (!b->kind)
        b->kind = kind;
    else if (strcmp(b->kind, kind) != 0)
        b->kind = "changes";
}

static const char *interval_text(Arena *arena, Interval iv)
{
    Buf t = {0};
    interval_format(&t, iv);
    return buf_to_arena(&t, arena);
}

static const char *by_word(PartBy by)
{
    return by == PART_HASH ? "hash" : by == PART_LIST ? "list" : "range";
}

/* "range on created_at every 1 month, premake 3, retention 24 months" */
static const char *summary(Arena *arena, const Policy *p)
{
    Buf t = {0};
    buf_printf(&t, "%s on %s", by_word(p->by), p->column);
    if (p->by == PART_RANGE)
        buf_printf(&t, " every %s, premake %d, timezone %s", interval_text(arena, p->interval), p->premake,
                   p->timezone);
    if (p->by == PART_HASH)
        buf_printf(&t, " modulus %d", p->modulus);
    if (p->by == PART_LIST)
        buf_printf(&t, " in %d lists", p->nlists);
    if (p->subpartition.set)
        buf_printf(&t, ", subpartitioned by %s on %s", by_word(p->subpartition.by), p->subpartition.column);
    if (p->retention.set)
        buf_printf(&t, ", retention %s", interval_text(arena, p->retention.keep));
    if (p->backend == BACKEND_PG_PARTMAN)
        buf_append(&t, ", pg_partman backend");
    return buf_to_arena(&t, arena);
}

static void header_change(Builder *b, const Policy *p, const char *what, const char *why)
{
    if (!b->first_source)
        b->first_source = p->source_file;
    buf_printf(&b->header, "- %s: %s\n  why: %s\n", policy_qualified_name(p, b->arena), what, why);
    if (p->source_file)
        buf_printf(&b->header, "  source: %s:%d partition \"%s\"\n", p->source_file, p->source_line, p->table);
}

/* Append "DO $tag$\n<body>\n$tag$;" with a dollar-quote tag that the body
 * does not contain (schema names may hold '$'). */
static void append_do_block(Buf *out, const char *body)
{
    char tag[32] = "$partmig$";
    for (int i = 1; strstr(body, tag); i++)
        snprintf(tag, sizeof tag, "$partmig_%d$", i);
    buf_printf(out, "DO %s\n%s\n%s;", tag, body, tag);
}

/* squawk's rules (https://squawkhq.com/docs/rules) a column type TYPE
 * (the policy's text, e.g. "integer not null") triggers, comma-separated,
 * or "": partmig writes the type the policy declares and says so to squawk
 * instead of changing it. */
static const char *squawk_type_rules(const char *type, Arena *arena)
{
    static const struct {
        const char *type, *rule;
    } types[] = {
        {"integer", "prefer-bigint-over-int"},
        {"int", "prefer-bigint-over-int"},
        {"int4", "prefer-bigint-over-int"},
        {"serial", "prefer-bigint-over-int, prefer-identity"},
        {"serial4", "prefer-bigint-over-int, prefer-identity"},
        {"smallint", "prefer-bigint-over-smallint"},
        {"int2", "prefer-bigint-over-smallint"},
        {"smallserial", "prefer-bigint-over-smallint, prefer-identity"},
        {"serial2", "prefer-bigint-over-smallint, prefer-identity"},
        {"bigserial", "prefer-identity"},
        {"serial8", "prefer-identity"},
        {"varchar", "prefer-text-field"},
        {"character varying", "prefer-text-field"},
        {"timestamp", "prefer-timestamp-tz"},
        {"timestamp without time zone", "prefer-timestamp-tz"},
        {"char", "ban-char-field"},
        {"character", "ban-char-field"},
        {"bpchar", "ban-char-field"},
    };
    char word[64];
    size_t n = 0;
    /* the type's name: up to "(", "[" or a word that is not part of it */
    for (const char *c = type; *c && *c != '(' && *c != '[' && n + 1 < sizeof word; c++)
        word[n++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    word[n] = '\0';
    size_t best = 0;
    const char *rule = "";
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        size_t tl = strlen(types[i].type);
        if (tl > best && !strncmp(word, types[i].type, tl) && (word[tl] == '\0' || word[tl] == ' ')) {
            best = tl;
            rule = types[i].rule;
        }
    }
    /* "timestamp with time zone" and "character varying" are longer matches */
    if (!strncmp(word, "timestamp with ", 15))
        rule = "";
    return arena_strdup(arena, rule);
}

/* ---- steps ---- */

/* S's comment followed by the "the runtime runs" block SHOWN wrote into
 * SQL (taken and freed); trailing newlines dropped. */
static void add_shown(Builder *b, Step *s, Buf *sql)
{
    while (sql->len && sql->data[sql->len - 1] == '\n')
        sql->data[--sql->len] = '\0';
    if (sql->len)
        s->comment = arena_printf(b->arena, "%s%s%s", s->comment ? s->comment : "", s->comment ? "\n" : "",
                                  s->comment ? buf_str(sql) : buf_str(sql) + 1);
    buf_free(sql);
    b->shown = true;
}

/* The conversion an ensure_table without columns runs on a plain table. */
static void show_conversion(Builder *b, Step *s, const Policy *p)
{
    if (p->ncolumns)
        return;
    Buf q = {0};
    shown_conversion(&q, p);
    add_shown(b, s, &q);
}

static Step *step_ensure_table(Builder *b, const Policy *p)
{
    static const char *const methods[] = {"copy", "attach", "none"};
    Step *s = add_step(b, STEP_ENSURE_TABLE, p, true, UNDO_AUTO, "ACCESS EXCLUSIVE");
    s->title = arena_printf(b->arena, "make %s a table partitioned by %s (%s)", s->table, by_word(p->by), p->column);
    if (!p->ncolumns) {
        add_arg(b, s, "method", methods[p->existing.method]);
        s->comment =
            arena_printf(b->arena,
                         "the table must exist: partmig adopts it when already partitioned this way, else converts it\n"
                         "(existing.method=%s, batch_size=%d, jobs=%d%s); the lock is held only for the final swap",
                         methods[p->existing.method], p->existing.batch_size, p->existing.jobs,
                         p->primary_key.n ? ", new primary key from the policy" : "");
        return s;
    }
    s->comment = "created when it does not exist (the policy declares its columns)";
    Buf q = {0};
    buf_append(&q, "CREATE TABLE IF NOT EXISTS ");
    quote_qualified(&q, p->schema, p->table);
    buf_append(&q, " (\n");
    for (int i = 0; i < p->ncolumns; i++) {
        const char *rules = squawk_type_rules(p->columns[i].type, b->arena);
        if (*rules)
            buf_printf(&q, "    -- squawk-ignore %s -- the column type the policy declares\n", rules);
        buf_append(&q, "    ");
        quote_ident(&q, p->columns[i].name);
        buf_printf(&q, " %s%s\n", p->columns[i].type, i + 1 < p->ncolumns || p->primary_key.n ? "," : "");
    }
    if (p->primary_key.n) {
        buf_append(&q, "    PRIMARY KEY (");
        for (int i = 0; i < p->primary_key.n; i++) {
            if (i)
                buf_append(&q, ", ");
            quote_ident(&q, p->primary_key.items[i]);
        }
        buf_append(&q, ")\n");
    }
    buf_printf(&q, ") PARTITION BY %s (", p->by == PART_HASH ? "HASH" : p->by == PART_LIST ? "LIST" : "RANGE");
    quote_ident(&q, p->column);
    buf_append(&q, ");");
    s->sql = buf_to_arena(&q, b->arena);
    return s;
}

/* ERR (set by a helper without a location) about policy P: "file:line:
 * partition "t": <message>", keeping the hint. */
static bool policy_error(Err *err, const Policy *p)
{
    char msg[sizeof err->msg], hint[sizeof err->hint];
    snprintf(msg, sizeof msg, "%s", err->msg);
    snprintf(hint, sizeof hint, "%s", err->hint);
    err_at(err, PM_EINPUT, p->source_file, p->source_line, "partition \"%s\": %s", p->table, msg);
    if (hint[0])
        err_hint(err, "%s", hint);
    return false;
}

/* The end of the static range of a policy with a start: start + (premake +
 * 1) steps for integer keys; for time keys the interval after AS_OF's plus
 * premake (at least past the start).  Checked: a bound past bigint or past
 * year 9999 is an error naming the limit, never a wrapped number. */
static bool static_range_end(const Policy *p, const char *as_of, char *to, size_t size, Err *err)
{
    int64_t steps = (int64_t)p->premake + 1;
    if (p->interval.unit == UNIT_INTEGER) {
        int64_t start, span, end;
        if (!int64_parse(p->start, &start)) {
            err_at(err, PM_EINPUT, p->source_file, p->source_line,
                   "partition \"%s\": start \"%s\" is outside the bigint range %lld .. %lld", p->table, p->start,
                   (long long)INT64_MIN, (long long)INT64_MAX);
            return err_hint(err, "integer range keys are bigint; choose a start within that range");
        }
        if (__builtin_mul_overflow(steps, p->interval.count, &span) || __builtin_add_overflow(start, span, &end)) {
            err_at(err, PM_EINPUT, p->source_file, p->source_line,
                   "partition \"%s\": start %lld plus %lld x %lld (premake + 1 steps) passes %lld, the largest "
                   "bigint",
                   p->table, (long long)start, (long long)steps, (long long)p->interval.count, (long long)INT64_MAX);
            return err_hint(err, "lower \"start\", the step (interval) or premake so that every bound stays "
                                 "within bigint");
        }
        snprintf(to, size, "%lld", (long long)end);
        return true;
    }
    WallTime anchor, now, floor, end;
    if (!walltime_parse(p->start, &anchor) || !walltime_parse(as_of, &now)) {
        err_at(err, PM_EINPUT, p->source_file, p->source_line, "partition \"%s\": bad start \"%s\" or --as-of \"%s\"",
               p->table, p->start, as_of);
        return err_hint(err, "dates are YYYY-MM-DD in years %d..%d", WALLTIME_MIN_YEAR, WALLTIME_MAX_YEAR);
    }
    bool ok = interval_floor_checked(p->interval, anchor, now, &floor) &&
              interval_add_checked(p->interval, floor, steps, &end);
    if (ok && walltime_cmp(end, anchor) <= 0)
        ok = interval_add_checked(p->interval, anchor, steps, &end);
    if (!ok) {
        err_at(err, PM_EINPUT, p->source_file, p->source_line,
               "partition \"%s\": partitions from %s through %s plus %lld x the interval would end past "
               "%d-12-31, the latest date partmig handles",
               p->table, p->start, as_of, (long long)steps, WALLTIME_MAX_YEAR);
        return err_hint(err, "a shorter interval or a smaller premake");
    }
    Buf t = {0};
    walltime_format(&t, end);
    snprintf(to, size, "%s", buf_str(&t));
    buf_free(&t);
    return true;
}

/* Partitions known at compile time: static range (with a start) and fixed. */
static bool step_static_partitions(Builder *b, const Policy *p, const char *as_of, Err *err)
{
    PartitionSpec *range = NULL, *fixed = NULL;
    int nrange = 0, nfixed = 0;
    if (p->by == PART_RANGE && p->start && p->backend == BACKEND_NATIVE) {
        char to[64];
        if (!static_range_end(p, as_of, to, sizeof to, err))
            return false;
        b->used_as_of = p->interval.unit != UNIT_INTEGER;
        if (!partitions_range(p, p->start, to, b->arena, &range, &nrange, err))
            return policy_error(err, p);
    }
    if (p->backend == BACKEND_NATIVE)
        partitions_fixed(p, b->arena, &fixed, &nfixed);
    if (nrange + nfixed == 0)
        return true;
    if (!partitions_within_cap(p, (int64_t)nrange + nfixed, err)) {
        snprintf(err->file, sizeof err->file, "%s", p->source_file ? p->source_file : "");
        err->line = p->source_line;
        return false;
    }

    Step *s = add_step(b, STEP_SQL, p, true, UNDO_SQL, "ACCESS EXCLUSIVE");
    s->title = arena_printf(b->arena, "create the %d partition%s known at compile time", nrange + nfixed,
                            nrange + nfixed == 1 ? "" : "s");
    if (nrange)
        s->comment = arena_printf(b->arena, "range from %s through %s + premake %d, in %s", p->start, as_of, p->premake,
                                  p->timezone);
    Buf q = {0}, u = {0};
    buf_append(&u, "DECLARE\n    part text;\n    has_rows boolean;\nBEGIN\n"
                   "    -- the parent's lock first: an insert not yet committed cannot slip\n"
                   "    -- past the emptiness checks below\n"
                   "    IF to_regclass(");
    quote_literal(&u, quote_qualified_str(b->arena, p->schema, p->table));
    buf_append(&u, ") IS NOT NULL THEN\n        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', to_regclass(");
    quote_literal(&u, quote_qualified_str(b->arena, p->schema, p->table));
    buf_append(&u, "));\n    END IF;\n"
                   "    FOREACH part IN ARRAY ARRAY[\n");
    for (int i = 0; i < nrange + nfixed; i++) {
        const PartitionSpec *ps = i < nrange ? &range[i] : &fixed[i - nrange];
        partition_create_sql(&q, p, p->table, ps);
        buf_append(&u, "        ");
        quote_literal(&u, quote_qualified_str(b->arena, p->schema, ps->name));
        buf_append(&u, i + 1 < nrange + nfixed ? ",\n" : "\n");
    }
    buf_append(&u, "    ] LOOP\n"
                   "        IF to_regclass(part) IS NOT NULL THEN\n"
                   "            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', to_regclass(part)) INTO has_rows;\n"
                   "            IF has_rows THEN\n"
                   "                RAISE EXCEPTION 'partition % holds rows; not dropping it', part;\n"
                   "            END IF;\n"
                   "            EXECUTE format('DROP TABLE %s', to_regclass(part));\n"
                   "        END IF;\n"
                   "    END LOOP;\n"
                   "END");
    while (q.len && q.data[q.len - 1] == '\n')
        q.data[--q.len] = '\0';
    s->sql = arena_strdup(b->arena, buf_str(&q));
    Buf w = {0};
    append_do_block(&w, buf_str(&u));
    s->undo_sql = buf_to_arena(&w, b->arena);
    buf_free(&q);
    buf_free(&u);
    return true;
}

static void step_premake(Builder *b, const Policy *p)
{
    if (p->by != PART_RANGE || p->backend != BACKEND_NATIVE)
        return;
    Step *s = add_step(b, STEP_PREMAKE, p, true, UNDO_AUTO, "ACCESS EXCLUSIVE");
    s->title = arena_printf(b->arena, "create partitions through now + %d x %s (%s)", p->premake,
                            interval_text(b->arena, p->interval), p->timezone);
    s->comment = p->start ? "computed at apply time, from the start"
                          : "computed at apply time: from the oldest row (no start), so no row lands in DEFAULT";
    Buf q = {0};
    shown_premake(&q, p);
    add_shown(b, s, &q);
}

/* A relayout's premake: range partitions as step_premake, and for every
 * native policy the list partitions and DEFAULT the policy names now (a new
 * list value whose rows sit in DEFAULT has them moved, counted). */
static void step_premake_relayout(Builder *b, const Policy *p)
{
    if (p->backend != BACKEND_NATIVE)
        return;
    if (p->by == PART_RANGE) {
        step_premake(b, p);
        return;
    }
    Step *s = add_step(b, STEP_PREMAKE, p, true, UNDO_AUTO, "ACCESS EXCLUSIVE");
    s->title = arena_printf(b->arena, "create the %s partitions%s the policy names", by_word(p->by),
                            p->default_partition ? " and DEFAULT" : "");
    s->comment = "computed at apply time: the missing ones only; rows of a new list value that sit in DEFAULT\n"
                 "are moved into the new partition in the same transaction, counted";
    Buf q = {0};
    shown_premake(&q, p);
    add_shown(b, s, &q);
}

static void step_create_index(Builder *b, const Policy *p, const IndexSpec *ix)
{
    const char *name = policy_index_name(ix, p, b->arena);
    Step *s = add_step(b, STEP_SQL, p, true, UNDO_SQL, "SHARE");
    s->title = arena_printf(b->arena, "index %s on the parent only (partitions follow in the next step)", name);
    s->comment = "squawk-ignore require-concurrent-index-creation -- ON ONLY a partitioned table: catalog only, no "
                 "build, and PostgreSQL refuses CONCURRENTLY there";
    Buf q = {0};
    buf_printf(&q, "CREATE %sINDEX IF NOT EXISTS ", ix->unique ? "UNIQUE " : "");
    quote_ident(&q, name);
    buf_append(&q, " ON ONLY ");
    quote_qualified(&q, p->schema, p->table);
    buf_printf(&q, " USING %s (", ix->method ? ix->method : "btree");
    for (int i = 0; i < ix->columns.n; i++) {
        if (i)
            buf_append(&q, ", ");
        quote_ident(&q, ix->columns.items[i]);
    }
    buf_append(&q, ");");
    s->sql = arena_strdup(b->arena, buf_str(&q));
    buf_reset(&q);
    buf_append(&q, "DROP INDEX IF EXISTS ");
    quote_qualified(&q, p->schema, name);
    buf_append(&q, ";");
    s->undo_sql = arena_strdup(b->arena, buf_str(&q));
    buf_reset(&q);

    Step *bi = add_step(b, STEP_BUILD_INDEX, p, false, UNDO_AUTO, "SHARE UPDATE EXCLUSIVE");
    bi->title = arena_printf(b->arena, "build %s on every partition concurrently, then attach", name);
    bi->comment = "CREATE INDEX CONCURRENTLY per partition; writers are never blocked";
    add_arg(b, bi, "index", name);
    shown_build_index(&q, p, ix, name);
    add_shown(b, bi, &q);
}

static void step_drop_index(Builder *b, const Policy *p, const char *name)
{
    Step *s = add_step(b, STEP_SQL, p, true, UNDO_NONE, "ACCESS EXCLUSIVE");
    s->title = arena_printf(b->arena, "drop index %s (removed from the policy)", name);
    s->comment = "point of no return: rollback cannot rebuild it; add the index back to the policy instead\n"
                 "squawk-ignore require-concurrent-index-deletion -- an index of a partitioned table: PostgreSQL "
                 "refuses DROP INDEX CONCURRENTLY there";
    Buf q = {0};
    buf_append(&q, "DROP INDEX IF EXISTS ");
    quote_qualified(&q, p->schema, name);
    buf_append(&q, ";");
    s->sql = buf_to_arena(&q, b->arena);
}

/* pg_partman: create_parent once, and its part_config settings. */
static void step_partman(Builder *b, const Policy *p, bool create)
{
    const char *qname = policy_qualified_name(p, b->arena);
    Buf q = {0}, lit = {0};
    Step *s = add_step(b, STEP_SQL, p, true, create ? UNDO_SQL : UNDO_NONE, create ? "ACCESS EXCLUSIVE" : NULL);
    s->title = create ? "hand the table to pg_partman (runs once)" : "update pg_partman's settings";
    if (create) {
        s->comment = "pg_partman 4.x; maintenance through partman.run_maintenance_proc() (partmig maintain)";
        buf_append(&q, "CREATE SCHEMA IF NOT EXISTS partman;\nCREATE EXTENSION IF NOT EXISTS pg_partman SCHEMA "
                       "partman;\n");
        buf_append(&lit, "BEGIN\n    IF NOT EXISTS (SELECT 1 FROM partman.part_config WHERE parent_table = ");
        quote_literal(&lit, qname);
        buf_append(&lit, ") THEN\n        PERFORM partman.create_parent(\n            p_parent_table := ");
        quote_literal(&lit, qname);
        buf_append(&lit, ",\n            p_control := ");
        quote_literal(&lit, p->column);
        buf_append(&lit, ",\n            p_type := 'native',\n            p_interval := ");
        quote_literal(&lit, interval_text(b->arena, p->interval));
        buf_printf(&lit, ",\n            p_premake := %d", p->premake);
        if (p->start) {
            buf_append(&lit, ",\n            p_start_partition := ");
            quote_literal(&lit, p->start);
        }
        buf_append(&lit, ");\n    END IF;\nEND");
        append_do_block(&q, buf_str(&lit));
        buf_append(&q, "\n");
    }
    buf_printf(&q, "UPDATE partman.part_config SET premake = %d", p->premake);
    if (p->retention.set) {
        buf_append(&q, ", retention = ");
        quote_literal(&q, interval_text(b->arena, p->retention.keep));
        buf_printf(&q, ", retention_keep_table = %s, retention_keep_index = %s, retention_schema = ",
                   p->retention.keep_table ? "true" : "false", p->retention.keep_index ? "true" : "false");
        if (p->retention.archive == ARCHIVE_SCHEMA)
            quote_literal(&q, p->retention.archive_target);
        else
            buf_append(&q, "NULL");
    } else {
        buf_append(&q, ", retention = NULL");
    }
    buf_append(&q, "\n    WHERE parent_table = ");
    quote_literal(&q, qname);
    buf_append(&q, ";");
    s->sql = arena_strdup(b->arena, buf_str(&q));
    if (create) {
        buf_reset(&lit);
        buf_append(&lit, "DELETE FROM partman.part_config WHERE parent_table = ");
        quote_literal(&lit, qname);
        buf_append(&lit, ";");
        s->undo_sql = arena_strdup(b->arena, buf_str(&lit));
    } else {
        s->comment = "pg_partman keeps no history of its settings; rollback re-applies the older version's";
    }
    buf_free(&q);
    buf_free(&lit);
}

static void step_register(Builder *b, const Policy *p)
{
    Step *s = add_step(b, STEP_REGISTER, p, true, UNDO_AUTO, NULL);
    s->title = arena_printf(b->arena, "record the policy of %s (maintain reads it)", s->table);
    Buf q = {0};
    shown_register(&q, s->table, b->version);
    add_shown(b, s, &q);
}

/* ---- diff ---- */

static const Policy *find(const PolicySet *set, const char *schema, const char *table)
{
    for (int i = 0; set && i < set->n; i++)
        if (!strcmp(set->items[i].table, table) && !strcmp(set->items[i].schema, schema))
            return &set->items[i];
    return NULL;
}

static const IndexSpec *find_index(const Policy *p, const char *name, Arena *arena)
{
    for (int i = 0; i < p->nindexes; i++)
        if (!strcmp(policy_index_name(&p->indexes[i], p, arena), name))
            return &p->indexes[i];
    return NULL;
}

/* The indexes of OLD that P drops or changes (by name). */
static int dropped_indexes(const Policy *old, const Policy *p, Arena *a, const char ***out)
{
    const char **drop = arena_alloc(a, sizeof *drop * (size_t)(old->nindexes + 1));
    int ndrop = 0;
    for (int i = 0; i < old->nindexes; i++) {
        const char *name = policy_index_name(&old->indexes[i], old, a);
        const IndexSpec *now = find_index(p, name, a);
        Policy x = {.indexes = &old->indexes[i], .nindexes = 1, .table = old->table};
        Policy y = {.indexes = (IndexSpec *)now, .nindexes = 1, .table = p->table};
        if (!now || strcmp(policy_to_json(&x, a), policy_to_json(&y, a)) != 0)
            drop[ndrop++] = name;
    }
    *out = drop;
    return ndrop;
}

/* A layout key changed (CHANGED: "start, primary_key"): a new version
 * whose ensure_table carries the new layout.  Apply decides: a table no
 * earlier version partitioned here is converted with it (the earlier
 * unfinished ensure_table superseded); on a table an earlier version
 * partitioned, only what is online (new list partitions, DEFAULT on or
 * off) is carried out, the rest refused with a recipe. */
static void plan_relayout(Builder *b, const Policy *old, const Policy *p, const char *changed)
{
    Arena *a = b->arena;
    header_change(b, p, arena_printf(a, "relayout (%s changed): %s", changed, summary(a, p)),
                  "the policy's layout changed; apply converts with the new layout where no earlier version "
                  "partitioned the table, and carries out only the online part where one did");
    note_kind(b, "relayout");
    const char **drop;
    int ndrop = dropped_indexes(old, p, a, &drop);
    for (int i = 0; i < ndrop; i++)
        step_drop_index(b, p, drop[i]);
    Step *s = step_ensure_table(b, p);
    add_arg(b, s, "relayout", "yes");
    s->title = arena_printf(a, "relayout %s: partitioned by %s (%s), %s changed", s->table, by_word(p->by), p->column,
                            changed);
    s->comment = arena_printf(a,
                              "%s\n"
                              "still a plain table here (the earlier ensure_table never completed): the earlier one "
                              "is superseded and this one converts it;\n"
                              "partitioned by an earlier version here: new list partitions and DEFAULT on/off are "
                              "carried out, any other change refused",
                              s->comment ? s->comment : "");
    show_conversion(b, s, p);
    if (p->backend == BACKEND_PG_PARTMAN) {
        step_partman(b, p, true);
    } else {
        step_premake_relayout(b, p);
    }
    for (int i = 0; i < p->nindexes; i++)
        step_create_index(b, p, &p->indexes[i]);
    step_register(b, p);
}

static bool name_listed(const char *const *names, int n, const char *qname)
{
    for (int i = 0; i < n; i++) {
        const char *dot = strchr(names[i], '.');
        /* a bare name means schema public */
        if (!strcmp(names[i], qname) || (!dot && !strncmp(qname, "public.", 7) && !strcmp(names[i], qname + 7)))
            return true;
    }
    return false;
}

static bool plan_new_table(Builder *b, const Policy *p, const char *as_of, Err *err)
{
    header_change(b, p, arena_printf(b->arena, "new table policy (%s)", summary(b->arena, p)), "the policy is new");
    note_kind(b, "new");
    show_conversion(b, step_ensure_table(b, p), p);
    if (p->backend == BACKEND_PG_PARTMAN) {
        step_partman(b, p, true);
    } else {
        if (!step_static_partitions(b, p, as_of, err))
            return false;
        step_premake(b, p);
    }
    for (int i = 0; i < p->nindexes; i++)
        step_create_index(b, p, &p->indexes[i]);
    step_register(b, p);
    return true;
}

static void plan_changed_table(Builder *b, const Policy *old, const Policy *p)
{
    Arena *a = b->arena;
    Buf what = {0};
    if (old->premake != p->premake) {
        buf_printf(&what, "%spremake %d -> %d", what.len ? ", " : "", old->premake, p->premake);
        note_kind(b, "premake");
    }
    if (strcmp(policy_to_json(&(Policy){.retention = old->retention}, a),
               policy_to_json(&(Policy){.retention = p->retention}, a)) != 0) {
        buf_printf(&what, "%sretention %s -> %s", what.len ? ", " : "",
                   old->retention.set ? interval_text(a, old->retention.keep) : "none",
                   p->retention.set ? interval_text(a, p->retention.keep) : "none");
        note_kind(b, "retention");
    }
    Policy ot = {.tiers = old->tiers, .ntiers = old->ntiers}, nt = {.tiers = p->tiers, .ntiers = p->ntiers};
    if (strcmp(policy_to_json(&ot, a), policy_to_json(&nt, a)) != 0) {
        buf_printf(&what, "%stiering changed", what.len ? ", " : "");
        note_kind(b, "tiering");
    }

    /* indexes: dropped ones first, then new ones */
    const char **drop;
    const IndexSpec **add = arena_alloc(a, sizeof *add * (size_t)(p->nindexes + 1));
    int ndrop = dropped_indexes(old, p, a, &drop), nadd = 0;
    for (int i = 0; i < p->nindexes; i++) {
        const char *name = policy_index_name(&p->indexes[i], p, a);
        bool kept = find_index(old, name, a) != NULL;
        for (int d = 0; d < ndrop; d++)
            kept &= strcmp(drop[d], name) != 0;
        if (!kept)
            add[nadd++] = &p->indexes[i];
    }
    for (int i = 0; i < ndrop; i++) {
        buf_printf(&what, "%sdrop index %s", what.len ? ", " : "", drop[i]);
        note_kind(b, "drop_index");
    }
    for (int i = 0; i < nadd; i++) {
        buf_printf(&what, "%snew index %s", what.len ? ", " : "", policy_index_name(add[i], p, a));
        note_kind(b, "index");
    }
    header_change(b, p, buf_str(&what), "the policy changed");
    buf_free(&what);

    for (int i = 0; i < ndrop; i++)
        step_drop_index(b, p, drop[i]);
    if (p->backend == BACKEND_PG_PARTMAN) {
        if (old->premake != p->premake || strcmp(policy_to_json(&(Policy){.retention = old->retention}, a),
                                                 policy_to_json(&(Policy){.retention = p->retention}, a)) != 0)
            step_partman(b, p, false);
    } else if (p->premake > old->premake) {
        step_premake(b, p);
    }
    for (int i = 0; i < nadd; i++)
        step_create_index(b, p, add[i]);
    step_register(b, p);
}

bool plan_build(const PlanInput *in, Arena *arena, Migration *out, bool *changed, Err *err)
{
    memset(out, 0, sizeof *out);
    *changed = false;
    Builder b = {.arena = arena, .m = out, .version = in->version};
    bool ok = false;
    int npol = 0;
    out->policies = arena_alloc(arena, sizeof *out->policies * (size_t)(in->now->n + 1));
    out->forgets = arena_alloc(arena, sizeof *out->forgets * (size_t)((in->old ? in->old->n : 0) + 1));

    for (int i = 0; i < in->now->n; i++) {
        const Policy *p = &in->now->items[i];
        const Policy *old = find(in->old, p->schema, p->table);
        const char *json = policy_to_json(p, arena);
        if (old && !strcmp(policy_to_json(old, arena), json))
            continue;
        if (!old) {
            if (!plan_new_table(&b, p, in->as_of, err))
                goto done;
            out->policies[npol++] = json;
            continue;
        }
        const char *qname = policy_qualified_name(p, arena);
        const char *new_table = policy_changed_among(old, p, policy_keys_new_table, arena);
        const char *relayout = policy_changed_among(old, p, policy_keys_relayout, arena);
        if (*new_table && !name_listed(in->relayout, in->nrelayout, qname)) {
            err_at(err, PM_EINPUT, p->source_file, p->source_line,
                   "partition \"%s\": %s changed; a table an earlier version partitioned cannot be re-partitioned "
                   "by an edit",
                   p->table, new_table);
            err_hint(err,
                     "if apply refused the earlier version and \"%s\" is still a plain table, run \"partmig "
                     "compile --relayout %s\" (apply then converts it with the new layout, and refuses where an "
                     "earlier version partitioned it); else keep the old %s and declare a new table for the new "
                     "layout: partition \"%s_new\" { ... }, apply, copy the rows, swap the names in one "
                     "transaction, then remove the old policy with \"partmig compile --forget %s\"",
                     qname, qname, new_table, p->table, qname);
            goto done;
        }
        if (*new_table || *relayout) {
            const char *changed = *new_table && *relayout ? arena_printf(arena, "%s, %s", new_table, relayout)
                                  : *new_table            ? new_table
                                                          : relayout;
            plan_relayout(&b, old, p, changed);
        } else {
            plan_changed_table(&b, old, p);
        }
        out->policies[npol++] = json;
    }
    out->npolicies = npol;
    /* tables whose policy is gone: unregistered only when the user says so */
    Buf gone = {0}, flags = {0};
    int ngone = 0, nrefused = 0;
    for (int i = 0; in->old && i < in->old->n; i++) {
        const Policy *old = &in->old->items[i];
        if (find(in->now, old->schema, old->table))
            continue;
        const char *qname = policy_qualified_name(old, arena);
        ngone++;
        if (in->allow_forget || name_listed(in->forget, in->nforget, qname))
            continue;
        buf_printf(&gone, "%s\"%s\"", nrefused ? ", " : "", qname);
        buf_printf(&flags, " --forget %s", qname);
        nrefused++;
    }
    if (nrefused) {
        if (ngone == in->old->n && in->now->n == 0)
            err_set(err, PM_EINPUT,
                    "the policies declare no table: this compile would unregister every table partmig manages "
                    "(%s); maintain would stop premaking their partitions",
                    buf_str(&gone));
        else
            err_set(err, PM_EINPUT,
                    "no policy declares %s any more: this compile would unregister %s (maintain would stop "
                    "premaking, retention and tiering there)",
                    buf_str(&gone), nrefused == 1 ? "it" : "them");
        err_hint(err,
                 "if a policy file was removed or commented out by mistake, restore it; to stop managing %s on "
                 "purpose (tables and data stay), run \"partmig compile%s\" (or --allow-forget)",
                 nrefused == 1 ? "it" : "them", buf_str(&flags));
        buf_free(&gone);
        buf_free(&flags);
        goto done;
    }
    buf_free(&gone);
    buf_free(&flags);
    for (int i = 0; in->old && i < in->old->n; i++) {
        const Policy *old = &in->old->items[i];
        if (find(in->now, old->schema, old->table))
            continue;
        const char *qname = policy_qualified_name(old, arena);
        out->forgets[out->nforgets++] = qname;
        Step *s = add_step(&b, STEP_UNREGISTER, old, true, UNDO_AUTO, NULL);
        s->title = arena_printf(arena, "stop managing %s (its policy was removed)", qname);
        s->comment = "the table, its partitions and its data stay as they are";
        Buf q = {0};
        shown_unregister(&q, qname);
        add_shown(&b, s, &q);
        buf_printf(&b.header, "- %s: policy removed\n  why: no policy file declares it any more\n", qname);
        note_kind(&b, "forget");
    }
    if (out->nsteps == 0) {
        ok = true;
        goto done;
    }

    /* slug: the first policy file's base name, then what changed */
    char base[48] = "policies";
    if (b.first_source) {
        const char *s = strrchr(b.first_source, '/');
        s = s ? s + 1 : b.first_source;
        size_t n = 0;
        for (; *s && *s != '.' && n + 1 < 32; s++) {
            char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
            base[n++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c : '_';
        }
        base[n] = '\0';
        if (!n)
            snprintf(base, sizeof base, "policies");
    }
    out->version = in->version;
    out->name = in->version == 1 ? arena_strdup(arena, base) : arena_printf(arena, "%s_%s", base, b.kind);
    out->lock_timeout = PLAN_LOCK_TIMEOUT;
    out->header = arena_printf(arena,
                               "generated by partmig compile from %s\n"
                               "%s"
                               "do not edit: partmig.sum records this file's checksum\n"
                               "%s"
                               "\n"
                               "changes:\n%s",
                               in->sources,
                               b.used_as_of ? arena_printf(arena,
                                                           "as of %s (static range partitions are listed up to "
                                                           "it plus premake)\n",
                                                           in->as_of)
                                            : "",
                               b.shown ? arena_printf(arena, "%s\n", shown_legend) : "", buf_str(&b.header));
    /* header lines end without a trailing newline */
    char *h = (char *)out->header;
    size_t hl = strlen(h);
    while (hl && h[hl - 1] == '\n')
        h[--hl] = '\0';
    /* The runtime reads no migration over FS_READ_MAX: never write one. */
    Buf text = {0};
    plan_write(out, &text);
    size_t size = text.len;
    buf_free(&text);
    if (size > FS_READ_MAX) {
        err_set(err, PM_EINPUT, "the migration would be %zu MiB, more than the %d MiB partmig reads back", size >> 20,
                (int)(FS_READ_MAX >> 20));
        err_hint(err, "split the change: compile fewer new policies at a time, or use fewer partitions");
        goto done;
    }
    *changed = true;
    ok = true;
done:
    buf_free(&b.header);
    return ok;
}
