/* ledger.h: partmig's own bookkeeping in the database (schema "partmig"):
 * applied migrations, their steps, objects steps created, registered
 * policies, and the one-runner advisory lock.  Every query on these tables
 * lives in ledger.c; values always travel as parameters. */
#ifndef PARTMIG_LEDGER_H
#define PARTMIG_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/arena.h"
#include "../common/err.h"
#include "pg.h"

/* Version of the ledger schema this build creates (partmig.meta). */
#define LEDGER_VERSION "2"

typedef struct LedgerMigration {
    int version;
    const char *name, *checksum;
    const char *state;       /* applied | running | failed | rolled_back */
    const char *finished_at; /* "" when not finished */
    /* the version committed something here: applied, or a step done or
     * running, an object recorded, a conversion started.  A version that
     * committed nothing pins nothing: its file may change (recompiled). */
    bool pinned;
} LedgerMigration;

typedef struct LedgerStep {
    int version, step;
    const char *action, *title;
    const char *state; /* running | done | failed | rolled_back */
    const char *mode;  /* detail->>'mode' ("created", "adopted", "converted", ...) or "" */
    int attempts;
} LedgerStep;

/* An object a step created (for undo and verify). */
typedef struct LedgerObject {
    int version, step;
    const char *kind; /* "partition" | "index" */
    const char *schema, *name;
    const char *bound; /* pg_get_expr(relpartbound) for partitions, else "" */
} LedgerObject;

typedef struct Ledger {
    bool exists;
    LedgerMigration *migrations; /* by version */
    int nmigrations;
    LedgerStep *steps; /* by version, step */
    int nsteps;
} Ledger;

/* Whether schema partmig with its migrations table exists (changes nothing). */
bool ledger_exists(PgConn *c, bool *exists, Err *err);

/* Create or upgrade the ledger under LOCK_TIMEOUT (NULL: PLAN_LOCK_TIMEOUT):
 * when partmig.meta's 'ledger_version' or 'sql_version' differs from this
 * build's (or the ledger is new), run the embedded sql/ledger.sql and
 * sql/conversion.sql (idempotent) and record both versions, all in one
 * transaction; a current ledger is only checked (schema trust). */
bool ledger_ensure(PgConn *c, const char *lock_timeout, Err *err);

/* Read migrations and steps into *L (owned by ARENA); a missing ledger is an
 * empty one with l->exists false. */
bool ledger_load(PgConn *c, Arena *arena, Ledger *l, Err *err);
const LedgerMigration *ledger_migration(const Ledger *l, int version);
const LedgerStep *ledger_step(const Ledger *l, int version, int step);

/* Objects recorded by VERSION:STEP (STEP 0: every step of VERSION; VERSION
 * 0: every object), owned by ARENA. */
bool ledger_objects(PgConn *c, int version, int step, Arena *arena, LedgerObject **out, int *n, Err *err);

/* Upsert the migration row: state "running" (started_at kept when resuming). */
bool ledger_migration_start(PgConn *c, int version, const char *name, const char *checksum, Err *err);
/* Forget the step rows of VERSION, a version that committed nothing (not
 * pinned) and whose file changed since: its failed attempt was of another
 * file. */
bool ledger_migration_unpin(PgConn *c, int version, Err *err);
/* Set the migration's final STATE ("applied", "failed", "rolled_back"). */
bool ledger_migration_finish(PgConn *c, int version, const char *state, Err *err);

/* Upsert a step row with STATE; MODE (or NULL: keep) goes to detail->>'mode',
 * ERROR (or NULL) to the error column.  "running" bumps attempts and sets
 * started_at; "done"/"failed"/"rolled_back" set finished_at and duration. */
bool ledger_step_record(PgConn *c, int version, int step, const char *action, const char *title, const char *state,
                        const char *mode, const char *error, Err *err);

/* Remember that VERSION:STEP created an object (idempotent). */
bool ledger_object_add(PgConn *c, int version, int step, const char *kind, const char *schema, const char *name,
                       const char *bound, Err *err);
/* Forget the objects of VERSION:STEP (after undoing it). */
bool ledger_objects_clear(PgConn *c, int version, int step, Err *err);

/* register: keep the previous registration of TABLE in the step's detail,
 * then upsert POLICY_JSON.  Call inside the step's transaction after
 * ledger_step_record(..., "running", ...). */
bool ledger_policy_register(PgConn *c, int version, int step, const char *table, const char *policy_json, Err *err);
/* unregister: same, then delete TABLE's registration. */
bool ledger_policy_unregister(PgConn *c, int version, int step, const char *table, Err *err);
/* Undo of register/unregister: restore the registration kept by VERSION:STEP
 * (delete when there was none). */
bool ledger_policy_restore(PgConn *c, int version, int step, const char *table, Err *err);
/* The registered policy JSON of TABLE, "" when none (owned by ARENA). */
bool ledger_policy_get(PgConn *c, const char *table, Arena *arena, const char **json, Err *err);
/* Whether TABLE is registered with exactly POLICY_JSON (compared as jsonb). */
bool ledger_policy_matches(PgConn *c, const char *table, const char *policy_json, bool *registered, bool *matches,
                           Err *err);
/* Every registered table ("schema.table") and its policy JSON (owned by ARENA). */
bool ledger_policies(PgConn *c, Arena *arena, const char ***tables, const char ***jsons, int *n, Err *err);

/* Conversion batches (partmig.batches, when the conversion ledger exists)
 * whose recorded source and target row counts differ: *N of them, *WHAT a
 * description of the first few (owned by ARENA); *CHECKED the batches read. */
bool ledger_batch_mismatches(PgConn *c, Arena *arena, int64_t *checked, int64_t *n, const char **what, Err *err);

/* The one-runner lock: a session-level advisory lock, tried without
 * waiting (*GOT says whether it was taken). */
bool ledger_try_lock(PgConn *c, bool *got, Err *err);
/* Who holds the runner lock: "pid 123 (application \"partmig\", client
 * 127.0.0.1, connected since ..., state ...)" or "" if nobody now. */
bool ledger_lock_holder(PgConn *c, Arena *arena, const char **who, Err *err);
/* Gaps between the range partitions attached to SCHEMA.TABLE (range
 * partitioned by one column): "from A to B" for each place where one
 * partition ends and the next starts later, then any plain table of the
 * schema named like TABLE's partitions (a detached one), "" when the
 * partitions meet. */
bool ledger_range_gaps(PgConn *c, const char *schema, const char *table, Arena *arena, const char **gaps, Err *err);
/* Index SCHEMA.NAME was built on a partition that retention removed (its
 * name starts with a removed partition's name and "_"). */
bool ledger_index_retired(PgConn *c, const char *schema, const char *name, bool *retired, Err *err);
/* The runner lock's holder, field by field (PID 0: nobody now). */
typedef struct LockHolder {
    int pid;
    const char *application; /* application_name */
    const char *who;         /* as ledger_lock_holder says it */
    const char *since;       /* when its current statement (or state) began */
    const char *query;       /* the start of that statement, "" when idle */
} LockHolder;
bool ledger_lock_holder_info(PgConn *c, Arena *arena, LockHolder *h, Err *err);

/* Whether partition SCHEMA.NAME was removed by `partmig maintain`'s
 * retention (partmig.retention_log, finished); *WHEN gets the time (ARENA). */
bool ledger_retired(PgConn *c, const char *schema, const char *name, Arena *arena, bool *retired, const char **when,
                    Err *err);

/* ---- `partmig maintain` runs, the last one per table (ledger version 2) ---- */

/* Whether partmig.maintain_runs exists (a ledger made before version 2
 * lacks it until ledger_ensure runs). */
bool ledger_maintain_ready(PgConn *c, bool *ready, Err *err);
/* Record that maintain starts on TABLE now (result "running"). */
bool ledger_maintain_start(PgConn *c, const char *table, Err *err);
/* Record how it ended: "ok", or "failed" with ERROR; CHANGES made. */
bool ledger_maintain_finish(PgConn *c, const char *table, bool ok, const char *error, int changes, Err *err);

typedef struct LedgerMaintainRun {
    const char *table;                          /* every registered table, run or not */
    double registered_at;                       /* unix seconds */
    const char *result;                         /* "running" | "ok" | "failed"; "" when never run */
    const char *error;                          /* of a failed run, else "" */
    double started_at, finished_at, last_ok_at; /* unix seconds, -1 when never */
    int changes;
} LedgerMaintainRun;

/* The last maintain run of every registered table (owned by ARENA). */
bool ledger_maintain_runs(PgConn *c, Arena *arena, LedgerMaintainRun **out, int *n, Err *err);

/* ---- maintain's reads and writes ---- */

/* Whether SCHEMA.TABLE has a conversion that is not finalized (its old
 * table is still the rollback point); *KEPT names the old table (ARENA). */
bool ledger_conversion_open(PgConn *c, const char *schema, const char *table, Arena *arena, bool *open,
                            const char **kept, Err *err);

/* The retention record (partmig.retention_log): a partition being
 * removed by retention is recorded before it is detached and marked
 * finished together with its final step, so a run killed in between
 * finishes the job next time, and verify knows the partition was removed on
 * purpose.  The table lives in the ledger's schema. */

/* Make sure the record table exists: a ledger made before it had one is
 * upgraded (ledger_ensure). */
bool ledger_retention_ensure(PgConn *c, Err *err);
/* Whether the record table exists (changes nothing). */
bool ledger_retention_exists(PgConn *c, bool *exists, Err *err);
/* Record SCHEMA.NAME of PARENT ("schema.table") with its BOUND text. */
bool ledger_retention_add(PgConn *c, const char *parent, const char *schema, const char *name, const char *bound,
                          Err *err);
/* Mark SCHEMA.NAME's removal finished (kept: verify reads it). */
bool ledger_retention_finish(PgConn *c, const char *schema, const char *name, Err *err);
/* Recorded removals of PARENT (owned by ARENA). */
bool ledger_retention_pending(PgConn *c, const char *parent, Arena *arena, const char ***schemas, const char ***names,
                              const char ***bounds, int *n, Err *err);

#endif
