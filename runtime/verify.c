/* verify.c: partmig verify -- re-check applied migrations against the
 * database (checksums, expected objects and bounds, indexes, registrations)
 * and list every problem. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../commands.h"
#include "../common/log.h"
#include "../common/buf.h"
#include "../common/sqlparse.h"
#include "catalog.h"
#include "ledger.h"
#include "migdir.h"
#include "runner.h"

static const char *const verify_usage = "usage: partmig verify [-d DIR] [--db URL]\n"
                                        "\n"
                                        "Re-check every applied migration against the database: file checksums\n"
                                        "against the ledger, tables partitioned as their policy says, the partitions\n"
                                        "that the steps and premake created present with the same bounds, indexes\n"
                                        "present and valid on every partition, policies registered as the files say.\n"
                                        "Lists every problem found.  Changes nothing.\n"
                                        "\n"
                                        "  -d, --dir DIR   migrations directory (default migrations)\n"
                                        "      --db URL    connection URL (else PARTMIG_DATABASE_URL, else PG* env);\n"
                                        "                  others see it in ps: give a password through\n"
                                        "                  PARTMIG_DATABASE_URL, PGPASSWORD or ~/.pgpass instead\n"
                                        "\n"
                                        "exit codes: 0 all good, 1 a problem was found (or a database error),\n"
                                        "2 bad input (partmig.sum does not match the files)\n";

typedef struct Verify {
    Arena *arena;
    PgConn *c;
    MigDir dir;
    Ledger ledger;
    int problems;
    int checks;
} Verify;

static void problem(Verify *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(Verify *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("partmig: verify: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    v->problems++;
}

/* A partition the migrations created is gone: fine when retention removed
 * it (partmig maintain records that), a problem otherwise. */
static bool partition_gone(Verify *v, const char *schema, const char *name, const MigFile *f, const Step *s, Err *err)
{
    bool retired;
    const char *when;
    if (!ledger_retired(v->c, schema, name, v->arena, &retired, &when, err))
        return false;
    if (retired)
        printf("partition \"%s.%s\" (%04d:%d) was removed by retention at %s\n", schema, name, f->m.version, s->number,
               when);
    else
        problem(v, "partition \"%s.%s\" (%04d:%d) is missing", schema, name, f->m.version, s->number);
    return true;
}

/* Partitions the step's SQL creates: present, attached to their parent, with
 * the bound the SQL gives (compared as PostgreSQL prints it). */
static bool check_sql_partitions(Verify *v, const MigFile *f, const Step *s, Err *err)
{
    SqlScript *script = NULL;
    if (!sql_script_parse(s->sql, f->path, 1, &script, err))
        return false;
    bool ok = true;
    for (int i = 0; ok && i < sql_script_count(script); i++) {
        const SqlStatement *st = sql_script_get(script, i);
        const char *schema, *name, *pschema, *parent;
        if (!sql_partition_of(st, &schema, &name, &pschema, &parent))
            continue;
        v->checks++;
        const char *bound = "";
        ok = catalog_partition_bound(v->c, schema, name, v->arena, &bound, err);
        if (!ok)
            break;
        if (!*bound) {
            ok = partition_gone(v, schema, name, f, s, err);
            continue;
        }
        const char *text = st->text, *b = strcasestr(text, "FOR VALUES");
        if (!b)
            b = strcasestr(text, " DEFAULT");
        if (!b)
            continue;
        char *want_sql = arena_strdup(v->arena, b);
        char *cut = strcasestr(want_sql, " PARTITION BY");
        if (cut)
            *cut = '\0';
        const char *want = "";
        Err berr;
        err_clear(&berr);
        if (!catalog_normalize_bound(v->c, pschema, parent, want_sql, v->arena, &want, &berr))
            problem(v, "partition \"%s.%s\" (%04d:%d): cannot check its bound: %s", schema, name, f->m.version,
                    s->number, berr.msg);
        else if (strcmp(want, bound) != 0)
            problem(v, "partition \"%s.%s\" (%04d:%d) has bound %s, the migration says %s", schema, name, f->m.version,
                    s->number, bound, want);
    }
    sql_script_free(script);
    return ok;
}

/* Objects the step recorded (premake partitions, partition indexes). */
static bool check_recorded(Verify *v, const MigFile *f, const Step *s, Err *err)
{
    LedgerObject *objs = NULL;
    int n = 0;
    if (!ledger_objects(v->c, f->m.version, s->number, v->arena, &objs, &n, err))
        return false;
    for (int i = 0; i < n; i++) {
        v->checks++;
        if (!strcmp(objs[i].kind, "partition")) {
            const char *bound = "";
            if (!catalog_partition_bound(v->c, objs[i].schema, objs[i].name, v->arena, &bound, err))
                return false;
            if (!*bound) {
                if (!partition_gone(v, objs[i].schema, objs[i].name, f, s, err))
                    return false;
            } else if (strcmp(bound, objs[i].bound) != 0)
                problem(v, "partition \"%s.%s\" has bound %s, it was created with %s", objs[i].schema, objs[i].name,
                        bound, objs[i].bound);
        } else {
            IndexInfo ii;
            if (!catalog_index_info(v->c, objs[i].schema, objs[i].name, v->arena, &ii, err))
                return false;
            bool retired = false;
            if (!ii.exists && !ledger_index_retired(v->c, objs[i].schema, objs[i].name, &retired, err))
                return false;
            if (!ii.exists && retired)
                printf("index \"%s.%s\" (%04d:%d) went with its partition, which retention removed\n", objs[i].schema,
                       objs[i].name, f->m.version, s->number);
            else if (!ii.exists)
                problem(v, "index \"%s.%s\" (built by %04d:%d) is missing", objs[i].schema, objs[i].name, f->m.version,
                        s->number);
            else if (!ii.valid)
                problem(v, "index \"%s.%s\" is INVALID (an interrupted concurrent build)", objs[i].schema,
                        objs[i].name);
        }
    }
    return true;
}

static bool check_table(Verify *v, const MigFile *f, const Step *s, const char *schema, const char *table, Err *err)
{
    const char *json;
    Policy p;
    if (!migdir_policy(&v->dir, s->table, f->m.version, v->arena, &json, &p, err))
        return false;
    TableInfo ti;
    if (!catalog_table_info(v->c, schema, table, v->arena, &ti, err))
        return false;
    v->checks++;
    if (!ti.exists) {
        problem(v, "table \"%s\" (%04d:%d) does not exist", s->table, f->m.version, s->number);
        return true;
    }
    if (ti.relkind != 'p') {
        problem(v, "table \"%s\" (%04d:%d) is not partitioned", s->table, f->m.version, s->number);
        return true;
    }
    char want = !json ? ti.strategy : p.by == PART_LIST ? 'l' : p.by == PART_HASH ? 'h' : 'r';
    if (json && (ti.strategy != want || strcmp(ti.key, p.column) != 0))
        problem(v, "table \"%s\" is partitioned by %s, the policy says %s", s->table, ti.key, p.column);
    /* every partition between the first and the last is attached, whoever
     * made it (a step, premake, a conversion, maintain): retention removes
     * the oldest only, so a gap is a partition detached or dropped by hand */
    const char *gaps = "";
    if (!ledger_range_gaps(v->c, schema, table, v->arena, &gaps, err))
        return false;
    v->checks++;
    if (*gaps)
        problem(v, "table \"%s\" lacks the partitions %s: detached or dropped outside partmig", s->table, gaps);
    return true;
}

static bool check_index(Verify *v, const MigFile *f, const Step *s, const char *schema, const char *table, Err *err)
{
    const char *index = step_arg(s, "index");
    if (!index)
        return true;
    IndexInfo ii;
    if (!catalog_index_info(v->c, schema, index, v->arena, &ii, err))
        return false;
    v->checks++;
    if (!ii.exists) {
        problem(v, "index \"%s.%s\" (%04d:%d) is missing", schema, index, f->m.version, s->number);
        return true;
    }
    if (!ii.valid)
        problem(v, "index \"%s.%s\" is not valid: a partition lacks its attached index", schema, index);
    PartInfo *parts = NULL;
    int n = 0;
    if (!catalog_partitions(v->c, schema, table, v->arena, &parts, &n, err))
        return false;
    for (int i = 0; i < n; i++) {
        const char *name = "";
        bool valid = false;
        if (!catalog_attached_index(v->c, parts[i].schema, parts[i].name, schema, index, v->arena, &name, &valid, err))
            return false;
        if (!*name)
            problem(v, "partition \"%s.%s\" has no index attached to \"%s\"", parts[i].schema, parts[i].name, index);
        else if (!valid)
            problem(v, "index \"%s.%s\" on partition \"%s\" is INVALID", parts[i].schema, name, parts[i].name);
    }
    return true;
}

/* The registration of each table must be what its latest register step says. */
static bool check_registrations(Verify *v, Err *err)
{
    for (int i = v->ledger.nsteps - 1; i >= 0; i--) {
        const LedgerStep *ls = &v->ledger.steps[i];
        if (strcmp(ls->state, "done") != 0 || (strcmp(ls->action, "register") && strcmp(ls->action, "unregister")))
            continue;
        const MigFile *f = migdir_find(&v->dir, ls->version);
        const Step *s = f && ls->step <= f->m.nsteps ? &f->m.steps[ls->step - 1] : NULL;
        if (!s || !s->table)
            continue;
        /* only the newest register/unregister step of a table counts */
        bool newer = false;
        for (int k = i + 1; k < v->ledger.nsteps && !newer; k++) {
            const LedgerStep *o = &v->ledger.steps[k];
            const MigFile *of = migdir_find(&v->dir, o->version);
            newer = !strcmp(o->state, "done") && of && o->step <= of->m.nsteps &&
                    (!strcmp(o->action, "register") || !strcmp(o->action, "unregister")) &&
                    of->m.steps[o->step - 1].table && !strcmp(of->m.steps[o->step - 1].table, s->table);
        }
        if (newer)
            continue;
        const char *json;
        Policy p;
        if (!migdir_policy(&v->dir, s->table, ls->version, v->arena, &json, &p, err))
            return false;
        bool registered = false, matches = false;
        if (!ledger_policy_matches(v->c, s->table, json ? json : "{}", &registered, &matches, err))
            return false;
        v->checks++;
        if (!strcmp(ls->action, "register") && !registered)
            problem(v, "the policy of \"%s\" is not registered (%04d:%d registered it)", s->table, ls->version,
                    ls->step);
        else if (!strcmp(ls->action, "register") && !matches)
            problem(v, "the registered policy of \"%s\" differs from %s", s->table, f->name);
        else if (!strcmp(ls->action, "unregister") && registered)
            problem(v, "\"%s\" is still registered although %04d:%d removed it", s->table, ls->version, ls->step);
    }
    return true;
}

static bool verify_all(Verify *v, Err *err)
{
    for (int i = 0; i < v->ledger.nmigrations; i++) {
        const LedgerMigration *m = &v->ledger.migrations[i];
        if (!strcmp(m->state, "rolled_back") && !ledger_step(&v->ledger, m->version, 1))
            continue;
        const MigFile *f = migdir_find(&v->dir, m->version);
        v->checks++;
        if (!f) {
            if (strcmp(m->state, "rolled_back") != 0)
                problem(v, "migration %04d_%s.sql is %s but missing from \"%s\"", m->version, m->name, m->state,
                        v->dir.dir);
            continue;
        }
        if (strcmp(m->state, "rolled_back") != 0 && strcmp(f->checksum, m->checksum) != 0)
            problem(v, "migration \"%s\" was changed after it was applied (checksum %.12s, ledger %.12s)", f->path,
                    f->checksum, m->checksum);
        if (!strcmp(m->state, "failed") || !strcmp(m->state, "running"))
            problem(v, "migration %s is %s: run \"partmig apply\" to finish it", f->name, m->state);
        for (int k = 0; k < f->m.nsteps; k++) {
            const Step *s = &f->m.steps[k];
            const LedgerStep *ls = ledger_step(&v->ledger, m->version, s->number);
            if (!ls || strcmp(ls->state, "done") != 0)
                continue;
            const char *schema = NULL, *table = NULL;
            if (s->table)
                runner_split(s->table, v->arena, &schema, &table);
            bool ok = true;
            if (s->action == STEP_ENSURE_TABLE)
                ok = check_table(v, f, s, schema, table, err);
            else if (s->action == STEP_SQL && s->sql && s->transactional)
                ok = check_sql_partitions(v, f, s, err);
            else if (s->action == STEP_BUILD_INDEX)
                ok = check_index(v, f, s, schema, table, err);
            ok = ok && check_recorded(v, f, s, err);
            if (!ok)
                return false;
        }
    }
    int64_t checked = 0, bad = 0;
    const char *what = "";
    if (!ledger_batch_mismatches(v->c, v->arena, &checked, &bad, &what, err))
        return false;
    v->checks += (int)checked;
    if (bad)
        problem(v, "%lld copy batch(es) recorded different source and target row counts: %s", (long long)bad, what);
    return check_registrations(v, err);
}

int cmd_verify(int argc, char **argv)
{
    RunOptions o;
    int rc = runner_parse(argc, argv, OPT_DIR | OPT_DB, verify_usage, &o);
    if (rc >= 0)
        return rc;
    Arena arena = {0};
    Verify v = {.arena = &arena};
    Err err;
    err_clear(&err);
    bool ok = migdir_load(o.dir, false, &arena, &v.dir, &err) && runner_connect(&o, &v.c, &err) &&
              ledger_load(v.c, &arena, &v.ledger, &err) && verify_all(&v, &err);
    if (!ok)
        rc = runner_fail(&err);
    else if (v.problems) {
        log_msg(LOG_ERROR, "verify found %d problem(s) in %d check(s)", v.problems, v.checks);
        log_hint("run \"partmig apply\" to recreate missing objects, or investigate who changed them");
        rc = PM_EDB;
    } else {
        printf("verified %d migration(s): %d check(s), no problem\n", v.ledger.nmigrations, v.checks);
        rc = PM_OK;
    }
    pg_close(v.c);
    sql_parse_cleanup();
    arena_free(&arena);
    return rc;
}
