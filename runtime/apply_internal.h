/* apply_internal.h: what the files of plan/apply share -- the state of a
 * run (Apply) and the step actions each file provides. */
#ifndef PARTMIG_APPLY_INTERNAL_H
#define PARTMIG_APPLY_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "../common/arena.h"
#include "../common/err.h"
#include "../model/plan.h"
#include "../model/policy.h"
#include "convert.h"
#include "ledger.h"
#include "migdir.h"
#include "pg.h"
#include "runner.h"
#include "workload.h"

typedef struct Apply {
    RunOptions *o;
    Arena *arena;
    PgConn *c;
    MigDir dir;
    Ledger ledger;
    bool dry;
    /* the step being run */
    const MigFile *f;
    const Step *s;
    const char *label;        /* "0001:2" */
    const char *lock_timeout; /* the file's preamble value */
    const char *schema, *table;
    const char *mode; /* ensure_table: recorded as detail.mode */
    /* plan / --dry-run: "schema.name" of the partitions earlier steps would
     * create, so premake does not list them a second time */
    const char **planned;
    int nplanned, capplanned;
    json_t *json;             /* plan --json: the steps, else NULL */
    WorkloadReport *workload; /* plan --json: the workload check of the current step */
} Apply;

typedef enum { ENSURE_CREATE, ENSURE_ADOPT, ENSURE_CONVERT } EnsureKind;

/* apply_ensure.c: ensure_table */
/* What ensure_table must do for the table as it is now. */
bool apply_ensure_decide(Apply *a, const Policy *p, EnsureKind *kind, Err *err);
/* The transactional part of ensure_table (create or adopt). */
bool apply_ensure_tx(Apply *a, Err *err);
/* An ensure_table step a policy's layout change compiled (relayout=yes). */
bool apply_is_relayout(const Step *s);
/* The conversion's options from the command line, policy P and the file. */
ConvertOptions apply_convert_options(const Apply *a, const Policy *p);

/* apply_partitions.c: premake and build_index */
bool apply_premake(Apply *a, Err *err);
bool apply_build_index(Apply *a, Err *err);

/* apply_plan.c: the step's policy; plan and --dry-run output.  Below the
 * step actions: nothing here calls back into them. */
/* The step's policy (as of its version); error when the files have none. */
bool apply_step_policy(Apply *a, const char **json, Policy *p, Err *err);
/* SQL printed as one statement ending in ";". */
void apply_out_sql(const char *sql);
/* Remember the partitions the SQL of the current step would create ... */
bool apply_note_planned_partitions(Apply *a, Err *err);
/* ... and whether SCHEMA.NAME is one of them. */
bool apply_planned(const Apply *a, const char *schema, const char *name);
/* Say whether the current step's CREATE EXTENSION can succeed. */
bool apply_note_extensions(Apply *a, Err *err);
/* plan --json: the current step as an object (SUPERSEDED: "" or why it does not run). */
json_t *apply_plan_step_json(Apply *a, const char *sql, const char *superseded);

#endif
