/* convert_index.c: the copy method's indexes and statistics, built while
 * nobody can see the new table -- the primary key, the indexes carried over
 * from the old table and the policy's own (under staged names the swap
 * renames), per partition over the job connections, then each parent
 * index attached; then the statistics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/quote.h"
#include "../model/partitions.h"
#include "convert_internal.h"
#include "progress.h"
#include "runner.h"
#include "retry.h"

/* index scripts per job connection: partitions dealt round among them */
#define INDEX_SCRIPTS_PER_JOB 4
/* rows per partition (on average) from which each partition's statistics
 * are gathered on the job connections (see parent_statistics) */
#define SPLIT_ANALYZE_ROWS 10000
/* tries of a script that met a deadlock (with autovacuum) */
#define DEADLOCK_TRIES 5

/* The shadow's primary key, built once the conv_backfill is done: one sorted
 * build per partition costs far less than maintaining the index row by row
 * while copying (measured: 1M rows, 25 partitions, 0.77 s copy + 0.38 s
 * build against 1.63 s copying into the indexed table).  Safe because
 * nothing but the copier writes to the shadow before this point: its
 * batches cover disjoint key ranges and each commits with its ledger row,
 * so no key is copied twice, and the build checks that.  The re-copy of
 * changed keys (which deletes and inserts by key) runs after it, with the
 * index.  It locks only the shadow: the old table's writers go on.  A
 * shadow that already has it (made by an earlier partmig) is left alone. */
static bool build_primary_key(Conv *v, Err *err)
{
    if (v->f.nnew_pk == 0)
        return true; /* keyed by a unique index, which build_indexes carries over */
    PgResult *r = NULL;
    const char *params[] = {v->q_shadow};
    if (!pg_exec(v->c, "SELECT 1 FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'", 1, params, &r,
                 err))
        return false;
    bool present = pg_nrows(r) > 0;
    pg_result_free(r);
    if (present)
        return true;
    double t0 = retry_now();
    const char *sql = arena_printf(v->a, "ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (%s)", v->q_shadow,
                                   quote_ident_str(v->a, conv_name63(v->a, v->row.shadow, "_pkey")),
                                   sql_column_list(v->a, v->f.new_pk, v->f.nnew_pk, ""));
    if (!pg_run(v->c, sql, err))
        return false;
    fprintf(stderr, "partmig: %s: built the primary key of %s in %.0f ms\n", v->qname, v->q_shadow,
            (retry_now() - t0) * 1000.0);
    return true;
}

/* The policy's index J on the shadow until the swap names it: the
 * swap renames it to the policy's name, so the policy's build_index step
 * finds it built, valid and attached. */
const char *conv_policy_index_staged(const Conv *v, int j)
{
    return arena_printf(v->a, "pm%s_pix%d", v->row.id, j);
}

/* "USING btree ("a", "b")" for the policy's index IX, as its steps write it. */
static const char *policy_index_using(Arena *a, const IndexSpec *ix)
{
    Buf b = {0};
    buf_printf(&b, "USING %s (", ix->method ? ix->method : "btree");
    for (int i = 0; i < ix->columns.n; i++) {
        if (i)
            buf_append(&b, ", ");
        quote_ident(&b, ix->columns.items[i]);
    }
    buf_putc(&b, ')');
    const char *s = arena_strdup(a, buf_str(&b));
    buf_free(&b);
    return s;
}

/* The old table's secondary indexes on the shadow, built on the parent
 * (the fallback for a shadow with sub-partitions).  Nothing but partmig
 * writes to the shadow, so a plain CREATE INDEX blocks no application. */
static bool build_indexes_whole(Conv *v, Err *err)
{
    if (!build_primary_key(v, err))
        return false;
    Buf b = {0};
    for (int i = 0; i < v->f.nix; i++) {
        if (v->f.ix_policy[i])
            continue; /* built below as the policy's index */
        const char *tmp = arena_printf(v->a, "pm%s_ix%d", v->row.id, i);
        buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS %s ON %s %s;\n", v->f.ix_unique[i] ? "UNIQUE " : "",
                   quote_ident_str(v->a, tmp), v->q_shadow, v->f.ix_using[i]);
    }
    for (int j = 0; j < v->p->nindexes; j++)
        buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS %s ON %s %s;\n", v->p->indexes[j].unique ? "UNIQUE " : "",
                   quote_ident_str(v->a, conv_policy_index_staged(v, j)), v->q_shadow,
                   policy_index_using(v->a, &v->p->indexes[j]));
    buf_printf(&b, "ANALYZE %s;\n", v->q_shadow);
    bool ok = conv_script(v->c, &b, err);
    buf_free(&b);
    return ok;
}

/* One index of the shadow: its parent index (made ON ONLY, catalog only)
 * and the index each partition gets, attached to it. */
typedef struct ShadowIndex {
    const char *parent;    /* name of the parent index (or primary key constraint) */
    bool pk;               /* the primary key: a constraint per partition */
    bool unique;           /* else: a unique index */
    const char *using;     /* its "USING method (columns)" */
    const char *suffix;    /* partitions' index names: "<partition><suffix>" */
    const char **child;    /* per partition: the index's name */
    bool *have, *attached; /* per partition: it exists there, it is attached */
} ShadowIndex;

/* The method and the column list of USING ("USING btree (a, b) ..."), up
 * to the list's closing parenthesis, into OUT (of SIZE) without spaces and
 * double quotes: what PostgreSQL compares when it matches a partition's
 * index to a parent's, and less (INCLUDE, WHERE and storage options
 * dropped; "a b" and ab alike; text too long for OUT cut).  Two
 * definitions that come out equal may still differ: the caller then takes
 * the slower, exact way. */
static void squeeze(const char *using, char *out, size_t size)
{
    size_t n = 0;
    int depth = 0;
    bool quoted = false;
    for (const char *s = using; *s && n + 1 < size; s++) {
        if (*s != ' ' && *s != '"')
            out[n++] = *s;
        if (*s == '"')
            quoted = !quoted;
        else if (!quoted && *s == '(')
            depth++;
        else if (!quoted && *s == ')' && --depth == 0)
            break;
    }
    out[n] = '\0';
}

/* '"a","b"' as a text[] literal of NAMES. */
static void names_array(Buf *b, const char *const *names, int n)
{
    buf_putc(b, '{');
    for (int i = 0; i < n; i++) {
        buf_append(b, i ? ",\"" : "\"");
        for (const char *s = names[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                buf_putc(b, '\\');
            buf_putc(b, *s);
        }
        buf_putc(b, '"');
    }
    buf_putc(b, '}');
}

/* Whether an index of IX other than K may have K's definition (method and
 * columns, see squeeze; uniqueness aside, so a unique index on the primary
 * key's columns counts too).  PK_USING: the primary key's "USING ...". */
static bool same_definition(const ShadowIndex *ix, int nix, int k, const char *pk_using)
{
    char mine[1024], other[1024];
    squeeze(ix[k].pk ? pk_using : ix[k].using, mine, sizeof mine);
    for (int j = 0; j < nix; j++) {
        squeeze(ix[j].pk ? pk_using : ix[j].using, other, sizeof other);
        if (j != k && !strcmp(mine, other))
            return true;
    }
    return false;
}

/* Run the statements of B as one transaction, again when the server
 * chose it to break a deadlock: autovacuum, vacuuming a freshly filled
 * partition, holds it and waits for its indexes, which this transaction
 * may hold (an index just attached); the server rolled it all back. */
static bool script_retried(PgConn *c, const Buf *b, Err *err)
{
    for (int tries = 1;; tries++) {
        if (conv_script(c, b, err))
            return true;
        if (strcmp(pg_last_sqlstate(c), "40P01") != 0 || tries >= DEADLOCK_TRIES)
            return false;
        err_clear(err);
    }
}

/* The parent's own statistics (inherited, across its partitions: what
 * the planner uses for joins and grouping over the partitioned table; the
 * partitions' own serve their scans; autovacuum never gathers a
 * partitioned table's).  PostgreSQL 15's ANALYZE of a partitioned table
 * gathers every partition's too (it has no ANALYZE ONLY): here the
 * partitions' at default_statistics_target 1 (a 300-row sample each,
 * cheap), the parent's at the session's target (set on its columns for
 * this transaction only).  Each partition's own statistics are gathered
 * after this, on the job connections, replacing those. */
static bool parent_statistics(Conv *v, Err *err)
{
    Arena *a = v->a;
    PgResult *r = NULL;
    const char *params[] = {v->q_shadow};
    if (!pg_exec(v->c,
                 "SELECT attname, pg_catalog.current_setting('default_statistics_target') FROM"
                 " pg_catalog.pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND"
                 " coalesce(attstattarget, -1) < 0 ORDER BY attnum",
                 1, params, &r, err))
        return false;
    Buf set = {0}, reset = {0}, b = {0};
    for (int i = 0; i < pg_nrows(r); i++) {
        const char *col = quote_ident_str(a, pg_get(r, i, 0));
        buf_printf(&set, "%sALTER COLUMN %s SET STATISTICS %d", i ? ", " : "", col, atoi(pg_get(r, i, 1)));
        buf_printf(&reset, "%sALTER COLUMN %s SET STATISTICS -1", i ? ", " : "", col);
    }
    buf_append(&b, "SET LOCAL default_statistics_target = 1;\n");
    if (set.len > 0)
        buf_printf(&b, "ALTER TABLE ONLY %s %s;\n", v->q_shadow, buf_str(&set));
    buf_printf(&b, "ANALYZE %s;\n", v->q_shadow);
    if (reset.len > 0)
        buf_printf(&b, "ALTER TABLE ONLY %s %s;\n", v->q_shadow, buf_str(&reset));
    pg_result_free(r);
    bool ok = script_retried(v->c, &b, err);
    buf_free(&set);
    buf_free(&reset);
    buf_free(&b);
    return ok;
}

/* Every index of the shadow, built partition by partition over the job
 * connections once the backfill is done: per partition (a few partitions
 * per round trip and transaction), its primary key constraint, its copies of the old
 * table's secondary indexes (plain CREATE INDEX: nothing but partmig writes
 * to the shadow); then on the parent the primary key and the indexes ON
 * ONLY (catalog only), each partition's attached; and the statistics
 * (per partition over the jobs, or one ANALYZE: see below).  One sorted
 * build per partition costs far less than maintaining the indexes row by
 * row while copying.  The re-copy of changed keys (which deletes and
 * inserts by key) runs after this, with the indexes.  Each step checks
 * what an earlier, interrupted partmig left, so a killed apply resumes. */
bool conv_build_indexes(Conv *v, Err *err)
{
    Arena *a = v->a;
    PgResult *r = NULL;
    Buf b = {0};
    bool ok = false;
    const char *params[2] = {v->q_shadow, NULL};
    if (!pg_exec(v->c,
                 "SELECT c.relname, c.relkind, n.nspname FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON "
                 "c.oid = i.inhrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE i.inhparent = "
                 "$1::regclass ORDER BY pg_catalog.pg_relation_size(c.oid) DESC, c.relname",
                 1, params, &r, err))
        goto done;
    int np = pg_nrows(r);
    const char **parts = arena_alloc(a, sizeof *parts * (size_t)(np + 1));
    const char **q_parts = arena_alloc(a, sizeof *q_parts * (size_t)(np + 1));
    const char **schemas = arena_alloc(a, sizeof *schemas * (size_t)(np + 1));
    for (int i = 0; i < np; i++) {
        if (pg_get(r, i, 1)[0] != 'r') {
            pg_result_free(r);
            return build_indexes_whole(v, err); /* sub-partitioned: PostgreSQL recurses */
        }
        parts[i] = arena_strdup(a, pg_get(r, i, 0));
        schemas[i] = arena_strdup(a, pg_get(r, i, 2));
        q_parts[i] = quote_qualified_str(a, schemas[i], parts[i]);
    }
    pg_result_free(r);
    r = NULL;

    /* the indexes: the primary key, then the old table's secondary ones */
    /* the indexes: the primary key, the old table's secondary ones, the
     * policy's (partitions' index names as PostgreSQL gives them:
     * "<partition>_pkey", "<partition>_<the index's name without its table
     * prefix>") */
    ShadowIndex *ix = arena_alloc(a, sizeof *ix * (size_t)(v->f.nix + v->p->nindexes + 2));
    int nix = 0;
    if (v->f.nnew_pk > 0) {
        ix[nix] = (ShadowIndex){.parent = conv_name63(a, v->row.shadow, "_pkey"), .pk = true, .suffix = "_pkey"};
        nix++;
    }
    size_t tl = strlen(v->p->table);
    for (int i = 0; i < v->f.nix; i++) {
        if (v->f.ix_policy[i])
            continue; /* built below as the policy's index */
        const char *old = v->f.ix_names[i];
        ix[nix] = (ShadowIndex){
            .parent = arena_printf(a, "pm%s_ix%d", v->row.id, i),
            .unique = v->f.ix_unique[i],
            .using = v->f.ix_using[i],
            .suffix = !strncmp(old, v->p->table, tl) && old[tl] == '_' ? old + tl : arena_printf(a, "_%s", old)};
        nix++;
    }
    for (int j = 0; j < v->p->nindexes; j++) {
        const IndexSpec *pi = &v->p->indexes[j];
        const char *name = policy_index_name(pi, v->p, a);
        ix[nix] = (ShadowIndex){
            .parent = conv_policy_index_staged(v, j),
            .unique = pi->unique,
            .using = policy_index_using(a, pi),
            .suffix = !strncmp(name, v->p->table, tl) && name[tl] == '_' ? name + tl : arena_printf(a, "_%s", name)};
        nix++;
    }
    int nnames = nix * np;
    const char **names = arena_alloc(a, sizeof *names * (size_t)(nnames + 1));
    for (int k = 0; k < nix; k++) {
        ix[k].child = arena_alloc(a, sizeof *ix[k].child * (size_t)(np + 1));
        ix[k].have = arena_alloc(a, sizeof(bool) * (size_t)(np + 1));
        ix[k].attached = arena_alloc(a, sizeof(bool) * (size_t)(np + 1));
        for (int i = 0; i < np; i++) {
            ix[k].child[i] = conv_name63(a, parts[i], ix[k].suffix);
            ix[k].have[i] = ix[k].attached[i] = false;
            names[k * np + i] = ix[k].child[i];
        }
    }
    /* what exists: each name's relation, its table and the index it is
     * attached to; a name some other relation holds gets a hashed one */
    names_array(&b, names, nnames);
    params[1] = buf_str(&b);
    if (!pg_exec(v->c,
                 "SELECT c.relname, coalesce(t.relname, ''), coalesce(pi.relname, ''), t.oid IS NOT NULL AND "
                 "t.relnamespace = c.relnamespace FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_index x ON "
                 "x.indexrelid = c.oid LEFT JOIN pg_catalog.pg_class t ON t.oid = x.indrelid LEFT JOIN "
                 "pg_catalog.pg_inherits ih ON ih.inhrelid = c.oid LEFT JOIN pg_catalog.pg_class pi ON pi.oid = "
                 "ih.inhparent WHERE c.relnamespace = (SELECT relnamespace FROM pg_catalog.pg_class WHERE oid = "
                 "$1::regclass) AND c.relname = ANY ($2::text[])",
                 2, params, &r, err))
        goto done;
    buf_reset(&b);
    for (int row = 0; row < pg_nrows(r); row++) {
        const char *name = pg_get(r, row, 0);
        for (int k = 0; k < nix; k++)
            for (int i = 0; i < np; i++) {
                if (strcmp(ix[k].child[i], name) != 0)
                    continue;
                if (!strcmp(pg_get(r, row, 1), parts[i]) &&
                    (!*pg_get(r, row, 2) || !strcmp(pg_get(r, row, 2), ix[k].parent))) {
                    ix[k].have[i] = true;
                    ix[k].attached[i] = *pg_get(r, row, 2) != '\0';
                } else
                    ix[k].child[i] = conv_name63(a, parts[i], arena_printf(a, "_pm%s_%d", v->row.id, k));
            }
    }
    pg_result_free(r);
    r = NULL;

    /* per partition: what it lacks; partitions dealt round (largest first)
     * into a few scripts per job, each one round trip and one transaction
     * (fewer commits and index file syncs to wait for than one per
     * partition; a killed apply redoes at most the scripts in flight) */
    double t0 = retry_now();
    int jobs = v->o->jobs > 0 ? v->o->jobs : (v->p->existing.jobs > 0 ? v->p->existing.jobs : 1);
    int nchunks = jobs * INDEX_SCRIPTS_PER_JOB < np ? jobs * INDEX_SCRIPTS_PER_JOB : np;
    const char **scripts = arena_alloc(a, sizeof *scripts * (size_t)(nchunks + 1));
    int nscripts = 0;
    const char *pk_cols = sql_column_list(a, v->f.new_pk, v->f.nnew_pk, "");
    /* statistics: with partitions of some size and more than one job, the
     * parent's first (cheap for the partitions), then each partition's in
     * its script after its indexes, over the job connections.  Many small
     * partitions: one ANALYZE of the parent after the indexes, which
     * gathers the partitions' and the parent's in one pass (per-partition
     * work dominates there, and the parent's pass would do it twice) */
    bool split = jobs > 1 && np > 1 && v->f.est_rows / np >= SPLIT_ANALYZE_ROWS;
    /* the undo log, for its triggers below (when the keys are recorded:
     * a conversion an older partmig began records them later) */
    bool triggers = false;
    if ((split && !parent_statistics(v, err)) ||
        !pg_query_bool(v->c, "SELECT key_columns IS NOT NULL FROM partmig.conversions WHERE id = $1::bigint", 1,
                       &v->row.id, &triggers, err) ||
        (triggers && !pg_exec(v->c, "SELECT partmig.conversion_make_undo_log($1::bigint)", 1, &v->row.id, NULL, err)))
        goto done;
    for (int c = 0; c < nchunks; c++) {
        buf_reset(&b);
        for (int i = c; i < np; i += nchunks) {
            for (int k = 0; k < nix; k++) {
                if (ix[k].have[i])
                    continue; /* built by an earlier partmig */
                if (ix[k].pk)
                    buf_printf(&b, "ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (%s);\n", q_parts[i],
                               quote_ident_str(a, ix[k].child[i]), pk_cols);
                else
                    buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS %s ON %s %s;\n", ix[k].unique ? "UNIQUE " : "",
                               quote_ident_str(a, ix[k].child[i]), q_parts[i], ix[k].using);
            }
            /* after the indexes: an expression index's statistics too */
            if (split)
                buf_printf(&b, "ANALYZE %s;\n", q_parts[i]);
            /* the undo log's triggers on the partition (they log from the
             * swap on; quiet in partmig's session until then), here to
             * spread them over the jobs too */
            if (triggers)
                buf_printf(&b, "SELECT partmig.conversion_leaf_triggers(%s, %s::pg_catalog.regclass, %s, false);\n",
                           v->row.id, quote_literal_str(a, q_parts[i]), quote_literal_str(a, conv_quiet_setting(v)));
        }
        if (b.len > 0)
            scripts[nscripts++] = arena_strdup(a, buf_str(&b));
    }
    if (!copier_scripts(v->o->db_url, scripts, nscripts, jobs, err))
        goto done;

    /* the parent: its indexes ON ONLY, each partition's attached */
    buf_reset(&b);
    bool pk_present = false;
    if (v->f.nnew_pk > 0) {
        params[1] = NULL;
        if (!pg_exec(v->c, "SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'", 1,
                     params, &r, err))
            goto done;
        pk_present = pg_nrows(r) > 0;
        pg_result_free(r);
        r = NULL;
    }
    /* a parent index made by an earlier partmig: its partitions' are
     * attached one by one (some may be already) */
    bool *parent_present = arena_alloc(a, sizeof(bool) * (size_t)(nix + 1));
    const char *pk_using = arena_printf(a, "USING btree (%s)", pk_cols);
    for (int k = 0; k < nix; k++) {
        parent_present[k] = ix[k].pk && pk_present;
        if (ix[k].pk)
            continue;
        const char *ip[] = {v->q_shadow, ix[k].parent};
        if (!pg_query_bool(v->c,
                           "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class c ON c.oid ="
                           " x.indexrelid WHERE x.indrelid = $1::regclass AND c.relname = $2)",
                           2, ip, &parent_present[k], err))
            goto done;
    }
    for (int k = 0; k < nix; k++) {
        if (!parent_present[k] && !same_definition(ix, nix, k, pk_using)) {
            /* made on the whole table, PostgreSQL attaches each
             * partition's index of the same definition (the one just
             * built) in this statement: one round of catalog work for
             * all partitions instead of one ATTACH each, whose checks
             * grow with the partitions (1,431 partitions, 3 indexes:
             * 0.8 s against 2.2-2.6 s measured).  Only when no other
             * index of the table has the same definition: else it could
             * take the other's partition index */
            if (ix[k].pk)
                buf_printf(&b, "ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (%s);\n", v->q_shadow,
                           quote_ident_str(a, ix[k].parent), pk_cols);
            else
                buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS %s ON %s %s;\n", ix[k].unique ? "UNIQUE " : "",
                           quote_ident_str(a, ix[k].parent), v->q_shadow, ix[k].using);
            continue;
        }
        if (ix[k].pk && !pk_present)
            buf_printf(&b, "ALTER TABLE ONLY %s ADD CONSTRAINT %s PRIMARY KEY (%s);\n", v->q_shadow,
                       quote_ident_str(a, ix[k].parent), pk_cols);
        else if (!ix[k].pk)
            buf_printf(&b, "CREATE %sINDEX IF NOT EXISTS %s ON ONLY %s %s;\n", ix[k].unique ? "UNIQUE " : "",
                       quote_ident_str(a, ix[k].parent), v->q_shadow, ix[k].using);
        for (int i = 0; i < np; i++)
            if (!ix[k].attached[i])
                buf_printf(&b, "ALTER INDEX %s ATTACH PARTITION %s;\n",
                           quote_qualified_str(a, v->p->schema, ix[k].parent),
                           quote_qualified_str(a, schemas[i], ix[k].child[i]));
    }
    if (!script_retried(v->c, &b, err))
        goto done;
    buf_reset(&b);
    if (!split) {
        buf_printf(&b, "ANALYZE %s;\n", v->q_shadow);
        if (!script_retried(v->c, &b, err))
            goto done;
    }
    fprintf(stderr,
            "partmig: %s: built %d indexes of %s on %d partitions (%d job(s)) and its statistics (%s) in %.0f ms\n",
            v->qname, nix, v->q_shadow, np, jobs < nscripts ? jobs : nscripts,
            split ? "the parent's, then each partition's on the jobs" : "in one ANALYZE", (retry_now() - t0) * 1000.0);
    ok = true;
done:
    pg_result_free(r);
    buf_free(&b);
    return ok;
}
