/* convert.h: turning an existing plain table into the partitioned table its
 * policy describes (SPEC.md "Converting an existing table"): pre-flight,
 * online copy with mirror triggers and a short swap, or zero-copy attach;
 * their undo, resume and `partmig finalize`. */
#ifndef PARTMIG_CONVERT_H
#define PARTMIG_CONVERT_H

#include <stdbool.h>

#include "../common/arena.h"
#include "../common/err.h"
#include "../model/policy.h"
#include "pg.h"

struct WorkloadReport;

typedef struct ConvertOptions {
    int version, step;               /* the migration step doing the conversion (ledger key) */
    int jobs;                        /* --jobs, else the policy's existing.jobs */
    int batch_size;                  /* --batch-size, else the policy's existing.batch_size */
    int sleep_ms;                    /* --sleep between batches */
    bool dry_run;                    /* print what would happen, change nothing */
    const char *db_url;              /* for opening extra connections (--jobs), may be NULL */
    int lock_timeout_ms;             /* lock_timeout of each short locking transaction; 0: 500 */
    int lock_retries;                /* retries of such a transaction on lock timeout; 0: 40 */
    bool require_pruning;            /* pre-flight refuses when a frequent statement cannot prune partitions */
    struct WorkloadReport *workload; /* not NULL: pre-flight's workload check is kept there (plan --json) */
} ConvertOptions;

/* Pre-flight checks for converting the existing table of P, all problems
 * reported at once (err->msg lists them, err->hint the fixes).  Changes
 * nothing.  false with PM_EDB (or PM_EINPUT for policy fixes) when refused. */
bool convert_preflight(PgConn *c, const Policy *p, const ConvertOptions *o, Err *err);

/* Convert (or resume converting) the existing unpartitioned table of P per
 * p->existing.method.  Idempotent: a finished conversion is a no-op. */
bool convert_run(PgConn *c, const Policy *p, const ConvertOptions *o, Err *err);

/* Undo a conversion of P's table: swap back (copy: rows written since the
 * swap carried back) or detach (attach).  A no-op when nothing was converted. */
bool convert_undo(PgConn *c, const Policy *p, const ConvertOptions *o, Err *err);

/* A swapped copy conversion of P's table whose undo log relies on its
 * horizon (sql/conversion.sql) for 2^30 transactions or more: sealed now,
 * well before the 2^31 within which a row's xmin can be compared with it
 * (run by maintain).  A no-op otherwise. */
bool convert_seal_aged(PgConn *c, const Policy *p, Err *err);

/* A conversion that is neither finalized nor rolled back, as `partmig
 * status` shows it.  Strings owned by the arena given to convert_list_open. */
typedef struct ConvertOpen {
    const char *table;              /* schema.table */
    const char *method, *state;     /* copy | attach; preflight .. swapped */
    int version, step;              /* the migration step converting it */
    const char *step_state;         /* that step's ledger state, "" when none */
    long long batches, rows_copied; /* backfill batches recorded and rows they copied */
    long long rows_estimate;        /* the original table's rows (reltuples, else live rows), -1 unknown */
    long long change_log_rows;      /* changed keys waiting in its change log (estimate), -1 none */
    long long undo_log_rows;        /* after the swap: entries in its undo log (estimate), -1 none */
    const char *started_at;         /* when it started (server time) */
    long long age_s, idle_s;        /* seconds since it started, since its last recorded progress */
} ConvertOpen;

/* Every unfinished conversion, oldest first (none when the ledger has no
 * conversions table). */
bool convert_list_open(PgConn *c, Arena *a, ConvertOpen **out, int *n, Err *err);

#endif
