/* runner.h: what the runtime commands share -- their command-line options,
 * connecting, the one-runner lock, the ledger-vs-files checksum check, and
 * running a locking transaction or statement under the lock policy (retry.h). */
#ifndef PARTMIG_RUNNER_H
#define PARTMIG_RUNNER_H

#include <stdbool.h>

#include "../common/arena.h"
#include "../common/err.h"
#include "ledger.h"
#include "migdir.h"
#include "pg.h"
#include "retry.h"

/* Options a command accepts (bits for runner_parse's ALLOWED). */
enum {
    OPT_DIR = 1 << 0,              /* -d DIR */
    OPT_DB = 1 << 1,               /* --db URL */
    OPT_TO = 1 << 2,               /* --to VERSION[:STEP] */
    OPT_DRY_RUN = 1 << 3,          /* --dry-run */
    OPT_JOBS = 1 << 4,             /* --jobs N */
    OPT_BATCH = 1 << 5,            /* --batch-size N */
    OPT_SLEEP = 1 << 6,            /* --sleep MS */
    OPT_WAIT = 1 << 7,             /* --wait SECONDS */
    OPT_JSON = 1 << 8,             /* --json */
    OPT_RETRIES = 1 << 9,          /* --lock-retries N */
    OPT_REQUIRE_PRUNING = 1 << 10, /* --require-pruning */
    OPT_ARGS = 1 << 11,            /* positional arguments (RunOptions.args) */
};

typedef struct RunOptions {
    const char *dir; /* -d, default "migrations" */
    bool dir_given;
    const char *db; /* --db or NULL (PARTMIG_DATABASE_URL, PG* env) */
    bool to_given;
    int to_version; /* --to VERSION */
    int to_step;    /* --to VERSION:STEP, 0 when absent */
    bool dry_run;
    bool json;
    int jobs;       /* 0: the policy's */
    int batch_size; /* 0: the policy's */
    int sleep_ms;
    int wait_s;           /* --wait, default 0 */
    int lock_retries;     /* tries per DDL statement on lock timeout, default 8 */
    bool require_pruning; /* a conversion refuses frequent statements that cannot prune */
    char **args;          /* OPT_ARGS: the positional arguments, in order */
    int nargs;
} RunOptions;

/* Parse ARGV (argv[0] is the subcommand) into *O.  Returns -1 to go on, or
 * the exit code to return at once (after --help: 0; bad usage: 2, with the
 * message printed).  USAGE is the command's help text. */
int runner_parse(int argc, char **argv, unsigned allowed, const char *usage, RunOptions *o);

/* An option one command adds to the shared ones: --NAME (and -SHORT_NAME
 * when given), taking a value (--NAME VALUE or --NAME=VALUE) when
 * HAS_VALUE.  A command's table ends with a NULL name. */
typedef struct RunnerOption {
    const char *name; /* without the leading "--" */
    bool has_value;
    int id;          /* passed to the command's RunnerOptionSet */
    char short_name; /* 0: none; never 'd' or 'h' */
} RunnerOption;

/* Store option ID's VALUE (NULL without one) in CTX: -1 to go on, or the
 * exit code to return at once (the message printed). */
typedef int (*RunnerOptionSet)(void *ctx, int id, const char *value);

/* runner_parse plus the command's own options EXTRA, each handed to SET. */
int runner_parse_extra(int argc, char **argv, unsigned allowed, const RunnerOption *extra, RunnerOptionSet set,
                       void *ctx, const char *usage, RunOptions *o);

/* Connect (pg_connect) and apply the runtime session settings. */
bool runner_connect(const RunOptions *o, PgConn **c, Err *err);

/* Take the one-runner lock, polling every 200 ms for up to WAIT_S seconds
 * (never a blocking wait).  Failure: PM_ELOCKED naming the holder. */
bool runner_lock(PgConn *c, int wait_s, Arena *arena, Err *err);

/* Whether a partmig runner is at work now: another session holds the
 * runner lock and its partmig process (when its application name names one
 * on this host) is alive.  *WHO describes the holder, "" when none (owned
 * by ARENA).  Reads only; never takes the lock. */
bool runner_running(PgConn *c, Arena *arena, bool *running, const char **who, Err *err);

/* Every migration the ledger knows as applied, running or failed that is
 * pinned (LedgerMigration.pinned: it committed something here) must be in D
 * with the same checksum; one that committed nothing may be changed or
 * gone.  Failure: PM_EINPUT naming the file. */
bool runner_check_applied(const MigDir *d, const Ledger *l, Err *err);

/* The body of a transaction: true to commit. */
typedef bool (*RunnerTxBody)(void *ctx, Err *err);

/* Run BODY in BEGIN ... COMMIT with SET LOCAL lock_timeout = LOCK_TIMEOUT;
 * on lock timeout (SQLSTATE 55P03) roll back, back off and retry, TRIES
 * times in all; then fail (PM_EDB) naming LABEL, the lock LOCK_WHAT and the
 * sessions holding locks on SCHEMA.TABLE (if given).  Any other error rolls
 * back and fails at once. */
bool runner_tx(PgConn *c, const char *lock_timeout, int tries, const char *label, const char *lock_what,
               const char *schema, const char *table, RunnerTxBody body, void *ctx, Err *err);

/* Run one statement SQL outside a transaction (CONCURRENTLY and friends)
 * with lock_timeout and the same retries as runner_tx. */
bool runner_stmt(PgConn *c, const char *lock_timeout, int tries, const char *label, const char *schema,
                 const char *table, const char *sql, Err *err);

/* Split "schema.table" (identifiers never contain dots) into ARENA strings;
 * a bare name gets schema "public". */
void runner_split(const char *qualified, Arena *arena, const char **schema, const char **table);

/* Print ERR and return its exit code. */
int runner_fail(const Err *err);

#endif
