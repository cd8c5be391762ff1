/* plan.h: a migration as data -- the step list the compiler builds, the
 * emitter prints and the runtime reads back.  One definition for both halves.
 *
 * File format (docs/FORMAT.md has the full grammar):
 *
 *   -- partmig migration 0001 erp                 <- first line
 *   -- <header comment lines: what, why, sources>
 *   SET ...;                                      <- fixed session preamble
 *
 *   -- partmig:step 1 action=sql transactional=yes table=public.t undo=sql lock="..."
 *   -- <title line>
 *   -- <more comment lines>
 *   <SQL, any number of lines>
 *   -- partmig:undo
 *   -- <undo SQL, each line behind "-- " so psql never runs it>
 *   -- partmig:end
 *
 *   -- partmig:policy {"canonical":"json"}        <- policy state after this version
 *   -- partmig:forget public.t                     <- policy removed in this version
 */
#ifndef PARTMIG_PLAN_H
#define PARTMIG_PLAN_H

#include <stdbool.h>

#include "../common/arena.h"
#include "../common/buf.h"
#include "../common/err.h"

/* The lock_timeout of every generated migration and of partmig's own DDL:
 * writers queue behind a DDL statement waiting for its lock, so the wait is
 * kept well under a second and retried with backoff instead. */
#define PLAN_LOCK_TIMEOUT "500ms"

typedef enum {
    STEP_SQL = 0,      /* run SQL as written */
    STEP_ENSURE_TABLE, /* table exists partitioned: create (SQL given), convert, or adopt */
    STEP_PREMAKE,      /* partitions that depend on the apply date and the data */
    STEP_BUILD_INDEX,  /* per-partition CREATE INDEX CONCURRENTLY + ATTACH (arg index=) */
    STEP_REGISTER,     /* store the table's policy (JSON) in the ledger */
    STEP_UNREGISTER,   /* remove the table's policy from the ledger */
} StepAction;

typedef enum {
    UNDO_NONE = 0, /* point of no return */
    UNDO_SQL,      /* undo_sql holds the inverse */
    UNDO_AUTO,     /* the runtime knows the inverse of the action */
} UndoKind;

typedef struct StepArg {
    const char *key, *value;
} StepArg;

typedef struct Step {
    int number; /* 1-based within the migration */
    StepAction action;
    bool transactional; /* false: CONCURRENTLY and friends, run outside a transaction */
    const char *table;  /* "schema.table" the step is about, or NULL */
    const char *lock;   /* strongest lock taken, for the plan: "ACCESS EXCLUSIVE on public.t" */
    UndoKind undo;
    const char *title;    /* one line, lowercase */
    const char *comment;  /* further explanation lines, '\n'-separated, or NULL */
    const char *sql;      /* forward SQL or NULL */
    const char *undo_sql; /* with UNDO_SQL */
    StepArg *args;        /* further key=value attributes of the step line */
    int nargs;
} Step;

typedef struct Migration {
    int version;              /* 1, 2, ... printed as %04d */
    const char *name;         /* slug: [a-z0-9_]+ */
    const char *header;       /* header comment lines, '\n'-separated (without "-- ") */
    const char *lock_timeout; /* preamble lock_timeout, e.g. "500ms" (the default) */
    Step *steps;
    int nsteps;
    const char **policies; /* canonical policy JSON, one per table in this version */
    int npolicies;
    const char **forgets; /* "schema.table" no longer managed */
    int nforgets;
} Migration;

const char *step_action_name(StepAction a);
bool step_action_parse(const char *name, StepAction *out);
/* Value of a step argument, or NULL. */
const char *step_arg(const Step *s, const char *key);

/* Print a migration in the file format above (deterministic). */
void plan_write(const Migration *m, Buf *out);

/* Parse a migration file's TEXT; PATH is used in errors (file:line).
 * Everything in *OUT is owned by ARENA.  Errors are PM_EINPUT. */
bool plan_read(const char *path, const char *text, Arena *arena, Migration *out, Err *err);

/* "0001_erp.sql" for version 1, name "erp"; owned by ARENA. */
const char *plan_file_name(const Migration *m, Arena *arena);

#endif
