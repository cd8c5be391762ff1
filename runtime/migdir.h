/* migdir.h: a migrations directory as the runtime reads it -- partmig.sum
 * checked, every file parsed (plan_read) with its checksum, and the policy of
 * a table as of a version. */
#ifndef PARTMIG_MIGDIR_H
#define PARTMIG_MIGDIR_H

#include <stdbool.h>

#include "../common/arena.h"
#include "../common/err.h"
#include "../model/plan.h"
#include "../common/sha256.h"
#include "../model/policy.h"

typedef struct MigFile {
    const char *name;                  /* "0001_erp.sql" */
    const char *path;                  /* DIR/name */
    char checksum[SHA256_HEX_LEN + 1]; /* SHA-256 of the file, as in partmig.sum */
    Migration m;
} MigFile;

typedef struct MigDir {
    const char *dir;
    MigFile *files; /* by version, ascending */
    int n;
} MigDir;

/* Verify DIR/partmig.sum, then read and parse every migration (owned by
 * ARENA).  A missing directory is an error unless MISSING_OK (then empty).
 * Errors: PM_EINPUT naming the file. */
bool migdir_load(const char *dir, bool missing_ok, Arena *arena, MigDir *out, Err *err);

/* The file of VERSION, or NULL. */
const MigFile *migdir_find(const MigDir *d, int version);

/* The policy of TABLE ("schema.table") as of VERSION: the policy line of the
 * latest file at or before VERSION that mentions it.  *JSON is the canonical
 * JSON and *OUT the parsed policy (both owned by ARENA); *JSON is NULL when
 * no file mentions the table or the latest mention forgets it.  Errors: a
 * policy line that does not parse (PM_EINPUT). */
bool migdir_policy(const MigDir *d, const char *table, int version, Arena *arena, const char **json, Policy *out,
                   Err *err);

#endif
