/* convert.c: converting an existing table -- the entry point that starts
 * (or resumes) a copy or attach conversion and hands it to its method
 * (convert_copy.c, convert_attach.c); the state it shares with them is in
 * convert_state.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/quote.h"
#include "../model/partitions.h"
#include "convert_internal.h"
#include "ledger.h"
#include "progress.h"
#include "runner.h"

/* Whether relation (or type) NAME is free in SCHEMA. */
static bool name_free(PgConn *c, const char *schema, const char *name, bool *free_, Err *err)
{
    const char *params[] = {schema, name};
    PgResult *r = NULL;
    if (!pg_exec(c,
                 "SELECT (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid ="
                 " c.relnamespace WHERE n.nspname = $1 AND c.relname = $2) + (SELECT count(*) FROM"
                 " pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace"
                 " WHERE n.nspname = $1 AND t.typname = $2)",
                 2, params, &r, err))
        return false;
    *free_ = pg_get_int(r, 0, 0) == 0;
    pg_result_free(r);
    return true;
}

/* TABLE + SUFFIX, or with a number after SUFFIX (2, 3, ...), the first
 * such name that is free in the schema with NAME + "_pkey" (the index
 * partmig names after it) free too. */
static bool fresh_name(Conv *v, const char *suffix, const char **out, Err *err)
{
    for (int i = 1; i < 100; i++) {
        const char *s = i == 1 ? suffix : arena_printf(v->a, "%s%d", suffix, i);
        const char *name = conv_name63(v->a, v->p->table, s);
        bool f1 = false, f2 = false;
        if (!name_free(v->c, v->p->schema, name, &f1, err) ||
            (f1 && !name_free(v->c, v->p->schema, conv_name63(v->a, name, "_pkey"), &f2, err)))
            return false;
        if (f1 && f2) {
            *out = name;
            return true;
        }
    }
    err_set(err, PM_EDB, "no free name for the conversion's tables of \"%s\" (%s, %s2, ... %s99 are taken)", v->qname,
            conv_name63(v->a, v->p->table, suffix), suffix, suffix);
    return err_hint(err, "drop or rename the relations with those names, then run apply again");
}

/* A name partmig would give one of its objects is taken by the user's. */
static bool name_taken(Conv *v, const char *what, const char *name, Err *err)
{
    err_set(err, PM_EINPUT, "cannot convert \"%s\": %s \"%s\" exists, and partmig needs that name for its %s", v->qname,
            what, name, what);
    return err_hint(err, "rename or drop \"%s\", then run apply again (nothing was changed)", name);
}

/* Record a new conversion, with names for everything it creates that no
 * relation, type or constraint has: the new and the kept table (fresh
 * names: TABLE_partmig_new, TABLE_partmig_new2, ...), and the names made
 * from the conversion's id ("pm<id>_...") or the table's, which must be
 * free.  One transaction: a refusal records nothing. */
static bool conv_start(Conv *v, Err *err)
{
    const Policy *p = v->p;
    Arena *a = v->a;
    bool attach = p->existing.method == EXISTING_ATTACH, ok = false;
    const char *shadow = NULL, *kept = NULL;
    PgResult *r = NULL;
    if (!pg_run(v->c, "BEGIN", err))
        goto done;
    if ((!attach && !fresh_name(v, "_partmig_new", &shadow, err)) ||
        !fresh_name(v, attach ? "_legacy" : "_partmig_old", &kept, err))
        goto done;
    char ver[16], step[16];
    snprintf(ver, sizeof ver, "%d", v->o->version);
    snprintf(step, sizeof step, "%d", v->o->step);
    const char *params[] = {p->schema, p->table, attach ? "attach" : "copy", v->f.oid, shadow, kept, ver, step};
    if (!pg_exec(v->c,
                 "INSERT INTO partmig.conversions (table_schema, table_name, method, state, old_oid, shadow_name,"
                 " kept_name, version, step) VALUES ($1, $2, $3, 'preflight', $4::oid, $5, $6, $7::int, $8::int)",
                 8, params, NULL, err) ||
        !conv_load_row(v, err))
        goto done;
    /* relations named from the id: pm<id>_ix0, pm<id>_old_pkey, ... */
    const char *pp[] = {p->schema, arena_printf(a, "pm%s\\_%%", v->row.id)};
    if (!pg_exec(v->c,
                 "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
                 " WHERE n.nspname = $1 AND c.relname LIKE $2 ORDER BY 1 LIMIT 1",
                 2, pp, &r, err))
        goto done;
    if (pg_nrows(r) > 0) {
        name_taken(v, "relation", arena_strdup(a, pg_get(r, 0, 0)), err);
        goto done;
    }
    if (attach) {
        const char *names[] = {conv_attach_index_name(v), v->f.pkey_index ? NULL : conv_name63(a, p->table, "_pkey")};
        for (int i = 0; i < 2; i++) {
            bool f = true;
            if (names[i] && !name_free(v->c, p->schema, names[i], &f, err))
                goto done;
            if (!f) {
                name_taken(v, "relation", names[i], err);
                goto done;
            }
        }
        for (int i = 0; i < v->f.nix; i++) {
            bool f = true;
            const char *parked = conv_name63(a, v->f.ix_names[i], arena_printf(a, "_p%s", v->row.id));
            if (!name_free(v->c, p->schema, parked, &f, err))
                goto done;
            if (!f) {
                name_taken(v, "relation", parked, err);
                goto done;
            }
        }
        pg_result_free(r);
        r = NULL;
        const char *cp[] = {v->f.oid, conv_range_check_name(v)};
        if (!pg_exec(v->c, "SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = $1::oid AND conname = $2", 2, cp,
                     &r, err))
            goto done;
        if (pg_nrows(r) > 0) {
            name_taken(v, "constraint", conv_range_check_name(v), err);
            goto done;
        }
    }
    ok = pg_run(v->c, "COMMIT", err);
done:
    pg_result_free(r);
    if (!ok)
        conv_rollback_quietly(v->c);
    return ok;
}

static void print_dry_run(Conv *v)
{
    PartitionSpec *specs = NULL;
    int n = 0;
    const char *from = NULL, *to = NULL;
    Err ignored;
    preflight_layout(v->p, &v->f, v->a, &specs, &n, &from, &to, &ignored);
    if (v->p->existing.method == EXISTING_ATTACH) {
        printf("-- attach: CHECK constraint NOT VALID + VALIDATE on %s, a unique index with the partition key built "
               "CONCURRENTLY where needed, then one short transaction: rename, create the partitioned %s, ATTACH the "
               "old table as its first partition, premake partitions above it\n",
               v->q_table, v->q_table);
        return;
    }
    printf(
        "-- copy: create the partitioned shadow with %d partitions (%s .. %s), capture changes with a trigger on "
        "%s, conv_backfill in keyset batches on (%s) of %d rows, re-copy changed rows, verify per-partition counts in "
        "one snapshot, swap in one short transaction (lock_timeout %dms), keep the old table for rollback\n",
        n, from ? from : "-", to ? to : "-", v->q_table, sql_column_list(v->a, v->f.key, v->f.nkey, ""),
        v->o->batch_size > 0 ? v->o->batch_size : v->p->existing.batch_size, conv_lock_ms(v));
    for (int i = 0; i < n; i++)
        printf("--   partition %s %s\n", specs[i].name, specs[i].bound_sql);
}

bool convert_run(PgConn *c, const Policy *p, const ConvertOptions *o, Err *err)
{
    Arena a = {0};
    Conv v;
    bool ok = false, present = false;
    conv_init(&v, c, p, o, &a);
    if (!conv_ledger_present(c, &present, err))
        goto done;
    if (!present && !o->dry_run) {
        if (!ledger_ensure(c, NULL, err)) /* sql/ledger.sql */
            goto done;
        present = true;
    }
    if (present && !conv_load_row(&v, err))
        goto done;
    bool active = v.row.found && strcmp(v.row.state, "finalized") && strcmp(v.row.state, "rolled_back");
    if (!active) {
        if (!preflight_gather(c, p, &a, &v.f, err))
            goto done;
        if (v.f.exists && v.f.relkind == 'p') {
            ok = true; /* already partitioned: converted earlier, nothing to do */
            goto done;
        }
        if (!convert_preflight(c, p, o, err))
            goto done;
        if (o->dry_run) {
            print_dry_run(&v);
            ok = true;
            goto done;
        }
        if (!conv_start(&v, err))
            goto done;
    } else {
        if (o->dry_run) {
            printf("-- resume the %s conversion of %s from state %s\n", v.row.method, v.q_table, v.row.state);
            ok = true;
            goto done;
        }
        if (!conv_gather_original(&v, err))
            goto done;
    }
    if (!strcmp(v.row.method, "attach"))
        ok = conv_run_attach(&v, err);
    else
        ok = conv_run_copy(&v, err);
done:
    conv_rollback_quietly(c);
    arena_free(&a);
    return ok;
}
