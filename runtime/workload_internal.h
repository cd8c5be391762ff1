/* workload_internal.h: what workload.c and workload_text.c share -- a
 * statement read from pg_stat_statements, the rewrite that points it at the
 * shape table, and the text helpers.  Not used outside the workload check. */
#ifndef PARTMIG_WORKLOAD_INTERNAL_H
#define PARTMIG_WORKLOAD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/arena.h"
#include "workload.h"

#define SHAPE_PREFIX   "partmig_shape_"   /* the shape table's partitions */
#define STATEMENT_NAME "partmig_workload" /* the prepared statement, and the savepoint */
/* characters of a statement's text read: anyone can make pg_stat_statements
 * hold long texts, and up to WORKLOAD_CANDIDATES of them are read */
#define TEXT_MAX     32768
#define TEXT_MAX_STR "32768"

/* A byte range of a statement's text and what replaces it. */
typedef struct Edit {
    size_t at, len;
    const char *with;
    bool unqualified; /* a reference to the table without its schema */
} Edit;

/* A statement read from pg_stat_statements. */
typedef struct Candidate {
    const char *text, *role; /* ROLE NULL: the role was dropped */
    long long calls;
    double total_ms;
    size_t start; /* where the statement starts in TEXT (after comments) */
    bool prepare; /* TEXT is PREPARE name AS ... */
    Edit *edits;  /* sorted by position: the PREPARE name, the table's references */
    int nedits;
    bool qualified;     /* a reference names the table's schema */
    bool unqualified;   /* a reference depends on the search_path */
    bool touches;       /* decided: it reads or writes the table */
    const char *reason; /* why it cannot be planned, NULL when it can */
} Candidate;

/* Parse CD->text (libpg_query): does it name T's table (CD->qualified,
 * ->unqualified), which byte ranges the rewrite replaces (CD->edits: the
 * references, and a PREPARE's name), and CD->reason when it cannot be
 * planned (not SELECT/INSERT/UPDATE/DELETE, not parsed, a reference not
 * found in the text).  False: not a statement of the table, or one of
 * partmig's own (PG_QUERY_MARK first, or naming its ledger or conversion
 * tables).  Strings in A. */
bool workload_parse(const WorkloadTarget *t, Arena *a, Candidate *cd);

/* CD's statement as PREPARE STATEMENT_NAME, its edits applied (but not
 * those of unqualified references when CD->unqualified was cleared: the
 * role resolves that name to another relation).  In A. */
const char *workload_rewrite(Arena *a, const Candidate *cd);

/* Is SQL (a rewrite) one PREPARE statement?  The planning function runs
 * it with EXECUTE, which would run every statement of a text that the
 * rewrite had turned into several. */
bool workload_one_statement(const char *sql);

/* TEXT as printed: runs of blanks and line breaks one space, other control
 * characters and bytes that are not UTF-8 as \xHH, cut after about MAX
 * bytes with "... (N bytes)".  Query text is anyone's input: it must not
 * forge lines or send terminal escapes. */
const char *workload_shown(Arena *a, const char *text, size_t max);

#endif
