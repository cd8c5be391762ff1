/* err.h: the one error type carried up through partmig, and the exit codes. */
#ifndef PARTMIG_ERR_H
#define PARTMIG_ERR_H

#include <stdbool.h>

/* Exit codes of the CLI contract (SPEC.md). */
enum {
    PM_OK = 0,      /* success */
    PM_EDB = 1,     /* a database operation or a verification failed */
    PM_EINPUT = 2,  /* bad input: usage, policy error, tampered or stale migrations */
    PM_ELOCKED = 3, /* another runner holds the lock */
};

/*
 * An error: exit code, message, optional hint, and the policy or migration
 * location it is about.  Fixed-size so that it can be filled on any path
 * (including out-of-memory) without allocating.
 */
typedef struct Err {
    int code;       /* PM_* ; PM_OK means "no error" */
    char file[256]; /* "" when the error is not about a file */
    int line;       /* 0 when unknown */
    char msg[1024]; /* lowercase, no trailing period */
    char hint[512]; /* "" or how to fix it */
} Err;

/* Reset to "no error". */
void err_clear(Err *err);

/* Set code and message (printf-style); always returns false so callers can
 * write `return err_set(err, PM_EINPUT, "...")`.  Keeps an earlier error's
 * file/line if the new call does not set them. */
bool err_set(Err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Same, about FILE:LINE. */
bool err_at(Err *err, int code, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Attach a hint line ("hint: ..."); returns false. */
bool err_hint(Err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print to stderr as `partmig: msg` or `file:line: msg`, then `hint: ...`. */
void err_print(const Err *err);

#endif
