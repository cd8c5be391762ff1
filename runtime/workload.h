/* workload.h: the workload check of a conversion's pre-flight -- the
 * statements pg_stat_statements saw on the table, planned (generic plans)
 * against a table partitioned as the policy says, and the frequent ones
 * that cannot prune partitions reported with their calls and mean time. */
#ifndef PARTMIG_WORKLOAD_H
#define PARTMIG_WORKLOAD_H

#include <jansson.h>
#include <stdbool.h>

#include "../common/arena.h"
#include "../common/buf.h"
#include "../common/err.h"
#include "../model/partitions.h"
#include "pg.h"

/* The bounds of the check's cost, said in its report. */
#define WORKLOAD_CANDIDATES       1000 /* pg_stat_statements rows read, most called first */
#define WORKLOAD_TOP              10   /* the most called statements planned */
#define WORKLOAD_TIME_SHARE       5    /* ... and those with this % of the table's execution time */
#define WORKLOAD_MAX              20   /* statements planned at most */
#define WORKLOAD_MIN_CALLS        10   /* fewer calls: not a frequent statement */
#define WORKLOAD_TIMEOUT_MS       2000 /* statement_timeout of each planning statement */
#define WORKLOAD_LOCK_MS          200  /* lock_timeout of the same */
#define WORKLOAD_SHAPE_PARTITIONS 16   /* partitions of the table planned against, at most */
#define WORKLOAD_TEXT_SHOWN       120  /* bytes of a statement's text printed */

/* The table and the layout it is converted to. */
typedef struct WorkloadTarget {
    const char *schema, *table; /* the plain table as it is now */
    const char *column;         /* the partition key */
    const char *by;             /* "RANGE", "LIST" or "HASH" */
    const PartitionSpec *specs; /* partitions of the converted layout (the shape is made of them) */
    int nspecs;
    const char *const *pk; /* primary key of the converted table (may be none) */
    int partitions;        /* the converted table's partitions, as hints say; 0: unknown ("every partition") */
    int npk;
} WorkloadTarget;

/* One statement that touches the table. */
typedef struct WorkloadStatement {
    const char *shown;    /* its text shortened, control characters escaped */
    const char *role;     /* the role that ran it most */
    long long calls;      /* summed over roles */
    double mean_ms;       /* mean execution time */
    double share;         /* % of the execution time of the table's statements */
    bool checked;         /* planned; else REASON says why not */
    bool prunes;          /* checked: no scan of the table reads every partition */
    int scanned, removed; /* checked: most partitions one scan reads; removed at executor startup */
    const char *reason;   /* not checked: why */
} WorkloadStatement;

typedef struct WorkloadReport {
    Arena arena;           /* owns every string and array below */
    bool ran;              /* pg_stat_statements was read; else SKIPPED says why not */
    const char *skipped;   /* why the check did not run */
    const char *table;     /* schema.table */
    const char *column;    /* the partition key */
    int partitions;        /* partitions of the converted table, 0 when not known */
    int planned;           /* partitions of the shape table the statements were planned on */
    int touching;          /* statements seen on the table (readable, in this database) */
    int unreadable;        /* statements whose text the role may not read */
    WorkloadStatement *st; /* the frequent ones, most called first */
    int n;
} WorkloadReport;

/* Read pg_stat_statements (when the extension is installed in this database
 * and loaded) and plan its frequent statements on T's table against a
 * temporary table of the converted shape.  Reads only: everything runs in a
 * transaction that is rolled back, each statement only prepared and
 * EXPLAINed (never executed), as the role that ran it, under
 * statement_timeout.  A check that cannot run fills R->skipped and returns
 * true; false (PM_EDB) only when the connection failed. */
bool workload_check(PgConn *c, const WorkloadTarget *t, WorkloadReport *r, Err *err);

/* Statements of R that were checked and cannot prune. */
int workload_unprunable(const WorkloadReport *r);

/* The report as lines "partmig: ...\n": what was checked, the statements
 * not checked and why, and (with WARNINGS) a warning and a hint for each
 * statement that cannot prune. */
void workload_format(const WorkloadReport *r, bool warnings, Buf *out);

/* The hint of a statement that cannot prune. */
const char *workload_hint(const WorkloadReport *r, Arena *a);

/* The report as a JSON object (a new reference): ran, skipped, table,
 * column, partitions, touching, unreadable, limits and statements. */
json_t *workload_json(const WorkloadReport *r);

void workload_report_free(WorkloadReport *r);

#endif
