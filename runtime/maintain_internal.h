/* maintain_internal.h: what the files of partmig maintain share -- the
 * run (Maint), the table being maintained (Table), its transaction bodies
 * (Tx), and each file's steps. */
#ifndef PARTMIG_MAINTAIN_INTERNAL_H
#define PARTMIG_MAINTAIN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/arena.h"
#include "../common/buf.h"
#include "../common/err.h"
#include "../model/interval.h"
#include "../model/partitions.h"
#include "../model/plan.h"
#include "../model/policy.h"
#include "catalog.h"
#include "maintain_dump.h"
#include "pg.h"
#include "runner.h"

#define LOCK_TIMEOUT PLAN_LOCK_TIMEOUT

typedef struct Maint {
    RunOptions o;
    bool drain;
    PgConn *c;
    Arena *arena;
    int actions; /* changes made (or, dry run, that would be made) */
    bool pending_ready;
} Maint;

/* One registered table being maintained. */
typedef struct Table {
    Maint *m;
    const char *qname; /* "schema.table" */
    Policy p;
    TableInfo ti;
    PartInfo *parts;
    int nparts;
    const char *now; /* server clock in the policy's zone, "YYYY-MM-DD HH:00:00" */
    bool time_key;
    const char *error; /* the first failure's message, for the ledger ("" none) */
} Table;

/* One transaction of a step: what runs in it, in order (maint_run_tx). */
typedef struct Tx {
    Table *t;
    const char *script;                      /* run first (may be NULL) */
    const char *forget_schema, *forget_name; /* retention record to drop with it */
    /* dump: lock, count, pg_dump, verify, SCRIPT drops the table, then the
     * dump is moved into place */
    const char *dump_schema, *dump_table, *dump_dir;
    DumpArchive *dump;
    int64_t rows;
    /* drain */
    const char *drain_lock, *drain_lo, *drain_hi, *drain_count_sql, *drain_move_sql, *drain_attach;
    int64_t before, moved;
    /* a partition just created: it takes the table's grants, owner,
     * storage parameters and replica identity (catalog_partition_carry) */
    const char *carry_name;
} Tx;

/* maintain_table.c: what the steps share for one table */
/* Print "schema.table: [would ]..." (a change made or, dry run, to make). */
void maint_say(Table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print ERR about table T ("partmig: schema.table: ..."); returns false. */
bool maint_fail(Table *t, Err *err);
/* Re-read T's partitions (t->parts) from the catalog. */
bool maint_refresh(Table *t, Err *err);
/* T's DEFAULT partition, NULL when none. */
const PartInfo *maint_default_part(const Table *t);
/* Index of the newest range partition (highest bounds), -1 when none. */
int maint_newest_part(const Table *t);
/* "[2027-03-01, 2027-04-01)" for a range spec, "" otherwise; owned by ARENA. */
const char *maint_spec_range(const Table *t, const PartitionSpec *s);
/* A range spec's bounds as parameter text ("2024-01-01 00:00:00 UTC" or "100"). */
void maint_spec_params(const Table *t, const PartitionSpec *s, const char **lo, const char **hi);
/* "[from, to)" of partition PI, as maint_spec_range prints it. */
const char *maint_part_range(const Table *t, const PartInfo *pi);
/* now - IV in the policy's zone, "YYYY-MM-DD HH:00:00" (owned by the arena). */
const char *maint_cutoff(const Table *t, Interval iv, WallTime *out);
/* Whether partition PI's upper bound is <= WALL (exact, in SQL). */
bool maint_upper_at_or_before(Table *t, const PartInfo *pi, const char *wall, bool *yes, Err *err);
/* X in one transaction under maintain's lock_timeout and retries (runner_tx). */
bool maint_run_tx(Table *t, Tx *x, const char *label, const char *lock_what, Err *err);
/* SQL outside a transaction, same retries (runner_stmt). */
bool maint_run_stmt(Table *t, const char *label, const char *sql, Err *err);
/* Until a table's conversion is finalized its old table is the rollback
 * point, kept equal to the new one by a trigger: retention or a DEFAULT
 * drain now would make the two disagree.  *WAITS says WHAT waits. */
bool maint_conversion_waits(Table *t, const char *what, bool *waits, Err *err);

/* maintain_retention.c: retention, pending removals, tiering */
/* Each step: false when it failed (printed by maint_fail). */
bool maint_step_retention(Table *t, Err *err);
/* Finish what a killed run left: pending detaches, recorded removals. */
bool maint_step_pending(Table *t, Err *err);
bool maint_step_tiering(Table *t, Err *err);

/* maintain_premake.c: premake, the DEFAULT partition, pg_partman */
bool maint_step_premake(Table *t, Err *err);
bool maint_step_drain(Table *t, Err *err);
bool maint_report_default(Table *t, Err *err);
/* partman.run_maintenance() for this table alone, compared before and
 * after: what pg_partman made and removed is reported like partmig's own
 * changes.  Until the table's conversion is finalized its retention does
 * not run (the old table is the rollback point and must keep matching). */
bool maint_step_partman(Table *t, Err *err);

#endif
