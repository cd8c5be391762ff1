/* runner.c: options, connection, one-runner lock, and locking transactions
 * retried under the lock policy (retry.c), shared by the runtime commands. */
#include "runner.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "catalog.h"
#include "retry.h"

/* A non-negative integer option value, or -1. */
static int parse_count(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 1000000000)
        return -1;
    return (int)v;
}

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    char what[512];
    snprintf(what, sizeof what, fmt, arg);
    log_msg(LOG_ERROR, "%s: %s", cmd, what);
    log_hint("run \"partmig %s --help\"", cmd);
    return PM_EINPUT;
}

/* Room for the shared options, a command's own and the end marker. */
#define MAX_OPTIONS 32
#define EXTRA_BASE  256 /* getopt_long's value for the command's option I: EXTRA_BASE + I */

int runner_parse(int argc, char **argv, unsigned allowed, const char *usage, RunOptions *o)
{
    return runner_parse_extra(argc, argv, allowed, NULL, NULL, NULL, usage, o);
}

int runner_parse_extra(int argc, char **argv, unsigned allowed, const RunnerOption *extra, RunnerOptionSet set,
                       void *ctx, const char *usage, RunOptions *o)
{
    static const struct option shared[] = {
        {"dir", required_argument, NULL, 'd'},
        {"db", required_argument, NULL, 'D'},
        {"to", required_argument, NULL, 't'},
        {"dry-run", no_argument, NULL, 'n'},
        {"jobs", required_argument, NULL, 'j'},
        {"batch-size", required_argument, NULL, 'b'},
        {"sleep", required_argument, NULL, 's'},
        {"wait", required_argument, NULL, 'w'},
        {"json", no_argument, NULL, 'J'},
        {"lock-retries", required_argument, NULL, 'r'},
        {"require-pruning", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
    };
    static const struct {
        int opt;
        unsigned bit;
    } bits[] = {{'d', OPT_DIR},
                {'D', OPT_DB},
                {'t', OPT_TO},
                {'n', OPT_DRY_RUN},
                {'j', OPT_JOBS},
                {'b', OPT_BATCH},
                {'s', OPT_SLEEP},
                {'w', OPT_WAIT},
                {'J', OPT_JSON},
                {'r', OPT_RETRIES},
                {'P', OPT_REQUIRE_PRUNING}};
    struct option longs[MAX_OPTIONS];
    size_t nlongs = sizeof shared / sizeof *shared;
    memcpy(longs, shared, sizeof shared);
    for (int i = 0; extra && extra[i].name && nlongs + 1 < MAX_OPTIONS; i++)
        longs[nlongs++] =
            (struct option){extra[i].name, extra[i].has_value ? required_argument : no_argument, NULL, EXTRA_BASE + i};
    longs[nlongs] = (struct option){NULL, 0, NULL, 0};
    char shorts[MAX_OPTIONS * 2 + 8] = ":d:h";
    for (int i = 0; extra && extra[i].name && strlen(shorts) + 2 < sizeof shorts; i++)
        if (extra[i].short_name) {
            size_t n = strlen(shorts);
            shorts[n] = extra[i].short_name;
            shorts[n + 1] = extra[i].has_value ? ':' : '\0';
            shorts[n + 2] = '\0';
        }
    memset(o, 0, sizeof *o);
    o->dir = "migrations";
    o->lock_retries = 8;
    const char *cmd = argv[0];
    optind = 1;
    opterr = 0;
    int ch, index; /* INDEX: the long option found, -1 for a short one */
    while ((index = -1, ch = getopt_long(argc, argv, shorts, longs, &index)) != -1) {
        if (ch == 'h') {
            fputs(usage, stdout);
            return PM_OK;
        }
        if (ch == '?')
            return usage_error(cmd, "unknown option \"%s\"", argv[optind - 1]);
        if (ch == ':')
            return usage_error(cmd, "option \"%s\" needs a value", argv[optind - 1]);
        for (int i = 0; extra && extra[i].name && ch < EXTRA_BASE; i++)
            if (extra[i].short_name && ch == extra[i].short_name)
                ch = EXTRA_BASE + i;
        if (ch >= EXTRA_BASE) {
            int rc = set(ctx, extra[ch - EXTRA_BASE].id, optarg);
            if (rc >= 0)
                return rc;
            continue;
        }
        for (size_t i = 0; i < sizeof bits / sizeof *bits; i++)
            if (bits[i].opt == ch && !(allowed & bits[i].bit))
                /* by its name: argv[optind - 1] is the value when one follows */
                return index >= 0 ? usage_error(cmd, "option \"--%s\" does not apply here", longs[index].name)
                                  : usage_error(cmd, "option \"-%s\" does not apply here", "d");
        int v;
        switch (ch) {
        case 'd':
            o->dir = optarg;
            o->dir_given = true;
            break;
        case 'D': o->db = optarg; break;
        case 'n': o->dry_run = true; break;
        case 'J': o->json = true; break;
        case 'P': o->require_pruning = true; break;
        case 't': {
            char *end;
            long ver = strtol(optarg, &end, 10);
            long step = 0;
            if (*end == ':') {
                char *e2;
                step = strtol(end + 1, &e2, 10);
                if (e2 == end + 1 || *e2 || step < 1)
                    return usage_error(cmd, "--to \"%s\": expected VERSION or VERSION:STEP", optarg);
            } else if (*end || end == optarg)
                return usage_error(cmd, "--to \"%s\": expected VERSION or VERSION:STEP", optarg);
            if (ver < 0 || ver > 9999)
                return usage_error(cmd, "--to \"%s\": expected VERSION or VERSION:STEP", optarg);
            o->to_given = true;
            o->to_version = (int)ver;
            o->to_step = (int)step;
            break;
        }
        default:
            v = parse_count(optarg);
            if (v < 0 || ((ch == 'j' || ch == 'b' || ch == 'r') && v == 0))
                return usage_error(cmd, "\"%s\": expected a positive number", optarg);
            if (ch == 'j')
                o->jobs = v;
            else if (ch == 'b')
                o->batch_size = v;
            else if (ch == 's')
                o->sleep_ms = v;
            else if (ch == 'w')
                o->wait_s = v;
            else
                o->lock_retries = v;
        }
    }
    if (optind < argc && !(allowed & OPT_ARGS))
        return usage_error(cmd, "unexpected argument \"%s\"", argv[optind]);
    o->args = argv + optind;
    o->nargs = argc - optind;
    return -1;
}

bool runner_connect(const RunOptions *o, PgConn **c, Err *err)
{
    *c = pg_connect(o->db, err);
    if (!*c)
        return false;
    /* nothing is read from or run in schema partmig before its owners are
     * known to be trusted (a trap planted there would run as this role) */
    if (!catalog_session_setup(*c, err) || !catalog_check_schema_trust(*c, "partmig", "the ledger", err)) {
        pg_close(*c);
        *c = NULL;
        return false;
    }
    return true;
}

/* The holder's own process, when its application name says which
 * (runner_lock sets "partmig pid=N host=H"): false when that process
 * is known to be gone from this host. */
static bool holder_client_alive(const LockHolder *h, int *client_pid)
{
    char host[256] = "", me[256] = "";
    int pid = 0;
    *client_pid = 0;
    if (!h->application || sscanf(h->application, "partmig pid=%d host=%255s", &pid, host) != 2 || pid <= 0)
        return true;
    *client_pid = pid;
    if (gethostname(me, sizeof me - 1) != 0 || strncmp(host, me, strlen(host)) != 0)
        return true; /* another machine: nothing to tell */
    return !(kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

bool runner_lock(PgConn *c, int wait_s, Arena *arena, Err *err)
{
    double deadline = retry_now() + wait_s;
    for (;;) {
        bool got = false;
        if (!ledger_try_lock(c, &got, err))
            return false;
        if (got) {
            /* who holds the lock, for a runner that finds it taken: this
             * process and machine (unless the user named the session) */
            char host[256] = "";
            gethostname(host, sizeof host - 1);
            const char *p[] = {arena_printf(arena, "partmig pid=%d host=%.30s", (int)getpid(), host)};
            return pg_exec(c,
                           "SELECT pg_catalog.set_config('application_name', $1, false) "
                           "WHERE pg_catalog.current_setting('application_name') = 'partmig'",
                           1, p, NULL, err);
        }
        if (retry_now() >= deadline)
            break;
        retry_sleep_ms(200);
    }
    LockHolder h;
    if (!ledger_lock_holder_info(c, arena, &h, err))
        return false;
    if (!h.pid) {
        err_set(err, PM_ELOCKED, "another partmig runner holds the lock: (it just finished)");
        return err_hint(err, "run again");
    }
    int client = 0;
    bool alive = holder_client_alive(&h, &client);
    err_set(err, PM_ELOCKED, "another partmig runner holds the lock: %s, %s%s%s%s", h.who, h.since,
            *h.query ? ": " : "", h.query,
            alive ? ""
                  : arena_printf(arena,
                                 "; its partmig process %d on this host is gone, and the server ends its session "
                                 "once the statement notices",
                                 client));
    if (!alive)
        return err_hint(err,
                        "wait a few seconds (--wait SECONDS), or end the session now: "
                        "SELECT pg_terminate_backend(%d);",
                        h.pid);
    if (!strncmp(h.application, "partmig", 7))
        return err_hint(err,
                        "%s; if that partmig was killed and its session stays, end it with "
                        "SELECT pg_terminate_backend(%d);",
                        wait_s ? arena_printf(arena, "it is still running after --wait %d s", wait_s)
                               : "wait for it to finish, or pass --wait SECONDS",
                        h.pid);
    return err_hint(err,
                    wait_s ? "it is still running after --wait %d s; try again when it is done"
                           : "wait for it to finish, or pass --wait SECONDS",
                    wait_s);
}

bool runner_running(PgConn *c, Arena *arena, bool *running, const char **who, Err *err)
{
    LockHolder h;
    int client = 0;
    *running = false;
    *who = "";
    if (!ledger_lock_holder_info(c, arena, &h, err))
        return false;
    if (!h.pid)
        return true;
    *who = h.who;
    *running = holder_client_alive(&h, &client);
    return true;
}

bool runner_check_applied(const MigDir *d, const Ledger *l, Err *err)
{
    for (int i = 0; i < l->nmigrations; i++) {
        const LedgerMigration *m = &l->migrations[i];
        if (!strcmp(m->state, "rolled_back"))
            continue;
        const MigFile *f = migdir_find(d, m->version);
        /* a version that committed nothing here pins nothing: a file
         * recompiled after a refused apply (or removed) is taken as it is */
        if (!m->pinned && (!f || strcmp(f->checksum, m->checksum) != 0))
            continue;
        if (!f) {
            err_set(err, PM_EINPUT, "migration %04d_%s.sql is %s in the database but missing from \"%s\"", m->version,
                    m->name, m->state, d->dir);
            return err_hint(err, "restore it from version control (applied migrations are never deleted)");
        }
        if (strcmp(f->checksum, m->checksum) != 0) {
            err_set(err, PM_EINPUT, "migration \"%s\" was changed after it was %s (checksum %.12s, ledger %.12s)",
                    f->path, !strcmp(m->state, "applied") ? "applied" : "partly applied here", f->checksum,
                    m->checksum);
            return err_hint(err,
                            "a version with a completed step is pinned: restore the file from version control "
                            "(git checkout -- %s) and put the change in a new version: edit the policy, then "
                            "\"partmig compile\"",
                            d->dir);
        }
    }
    return true;
}

void runner_split(const char *qualified, Arena *arena, const char **schema, const char **table)
{
    const char *dot = strchr(qualified, '.');
    if (!dot) {
        *schema = "public";
        *table = arena_strdup(arena, qualified);
        return;
    }
    *schema = arena_strndup(arena, qualified, (size_t)(dot - qualified));
    *table = arena_strdup(arena, dot + 1);
}

static bool is_lock_timeout(PgConn *c)
{
    return !strcmp(pg_last_sqlstate(c), "55P03");
}

/* Turn the last lock timeout into the final error, naming who holds locks. */
static bool lock_failure(PgConn *c, const char *lock_timeout, int tries, const char *label, const char *lock_what,
                         const char *schema, const char *table, Err *err)
{
    Arena a = {0};
    const char *who = "";
    Err ignored;
    if (table)
        catalog_lock_holders(c, schema, table, &a, &who, &ignored);
    err_set(err, PM_EDB, "%s: could not get %s after %d tries (lock_timeout up to %s)", label,
            lock_what && *lock_what && strcmp(lock_what, "none") ? lock_what : "its lock", tries, lock_timeout);
    if (*who)
        err_hint(err, "blocked by: %s; end or wait for that session, then run \"partmig apply\" again", who);
    else
        err_hint(err, "another session held a conflicting lock (it has gone now); run \"partmig apply\" again");
    arena_free(&a);
    return false;
}

/* One try of runner_tx: BODY in BEGIN ... COMMIT under LOCK_TIMEOUT. */
typedef struct TxTry {
    PgConn *c;
    RunnerTxBody body;
    void *ctx;
} TxTry;

static bool tx_try(void *ctx, const char *lock_timeout, bool *retry, Err *err)
{
    TxTry *t = ctx;
    const char *p[1] = {lock_timeout};
    bool ok = pg_run(t->c, "BEGIN", err) &&
              pg_exec(t->c, "SELECT pg_catalog.set_config('lock_timeout', $1, true)", 1, p, NULL, err) &&
              t->body(t->ctx, err) && pg_run(t->c, "COMMIT", err);
    if (ok)
        return true;
    *retry = is_lock_timeout(t->c);
    if (pg_ok(t->c) && pg_in_transaction(t->c)) {
        Err ignored;
        pg_run(t->c, "ROLLBACK", &ignored);
    }
    return false;
}

/* One try of runner_stmt: SQL outside a transaction under LOCK_TIMEOUT. */
typedef struct StmtTry {
    PgConn *c;
    const char *sql;
} StmtTry;

static bool stmt_try(void *ctx, const char *lock_timeout, bool *retry, Err *err)
{
    StmtTry *t = ctx;
    const char *p[1] = {lock_timeout};
    if (!pg_exec(t->c, "SELECT pg_catalog.set_config('lock_timeout', $1, false)", 1, p, NULL, err))
        return false;
    if (pg_exec_script(t->c, t->sql, err))
        return true;
    *retry = is_lock_timeout(t->c);
    return false;
}

/* The lock policy for the file's LOCK_TIMEOUT: waits growing from a short
 * first one to LOCK_TIMEOUT when it is a plain duration; else *FIXED is
 * LOCK_TIMEOUT itself, for every try. */
static LockPolicy file_policy(const char *lock_timeout, int tries, const char **fixed)
{
    int cap = lock_policy_parse_ms(lock_timeout);
    *fixed = cap > 0 ? NULL : lock_timeout;
    return lock_policy(cap, tries);
}

bool runner_tx(PgConn *c, const char *lock_timeout, int tries, const char *label, const char *lock_what,
               const char *schema, const char *table, RunnerTxBody body, void *ctx, Err *err)
{
    const char *fixed;
    LockPolicy lp = file_policy(lock_timeout, tries, &fixed);
    TxTry t = {c, body, ctx};
    bool exhausted;
    if (retry_locked(&lp, fixed, label, tx_try, &t, &exhausted, err))
        return true;
    return exhausted && lock_failure(c, lock_timeout, tries, label, lock_what, schema, table, err);
}

bool runner_stmt(PgConn *c, const char *lock_timeout, int tries, const char *label, const char *schema,
                 const char *table, const char *sql, Err *err)
{
    const char *fixed;
    LockPolicy lp = file_policy(lock_timeout, tries, &fixed);
    StmtTry t = {c, sql};
    bool exhausted;
    if (retry_locked(&lp, fixed, label, stmt_try, &t, &exhausted, err))
        return true;
    return exhausted && lock_failure(c, lock_timeout, tries, label, NULL, schema, table, err);
}

int runner_fail(const Err *err)
{
    err_print(err);
    return err->code ? err->code : PM_EDB;
}
