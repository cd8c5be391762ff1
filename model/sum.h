/* sum.h: partmig.sum, the chained SHA-256 manifest of a migrations directory
 * (format in docs/DESIGN.md). */
#ifndef PARTMIG_SUM_H
#define PARTMIG_SUM_H

#include <stdbool.h>

#include "../common/arena.h"
#include "../common/err.h"

/* The partmig.sum text for the migration files NAMES (sorted, in DIR). */
bool sum_compute(const char *dir, const char *const *names, int n, Arena *arena, char **text, Err *err);

/* List DIR's NNNN_*.sql files and check them against DIR/partmig.sum: a
 * missing, edited, removed, reordered or unlisted file is an error
 * (PM_EINPUT) naming the file, with a hint.  An empty or missing directory
 * (no sum, no files) is fine.  On success *NAMES holds the files in order. */
bool sum_verify(const char *dir, Arena *arena, const char ***names, int *n, Err *err);

#endif
