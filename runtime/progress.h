/* progress.h: progress of a long copy -- a bar with rows, rows/s and ETA on
 * a terminal, a plain line every few seconds otherwise (stderr). */
#ifndef PARTMIG_PROGRESS_H
#define PARTMIG_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct Progress {
    char label[96];
    int64_t total;      /* estimate; 0 when unknown */
    double start, last; /* monotonic seconds */
    bool tty;
    bool printed;
} Progress;

/* Start reporting LABEL with TOTAL rows expected (an estimate). */
void progress_start(Progress *p, const char *label, int64_t total);
/* DONE rows so far; prints at most every 0.2 s (tty) or 5 s (plain). */
void progress_update(Progress *p, int64_t done);
/* Final line: rows, seconds, rows/s. */
void progress_finish(Progress *p, int64_t done);

#endif
