/* check.h: a tiny assertion harness for unit tests; main() returns
 * check_report(), which prints "N passed, N failed" and the exit code. */
#ifndef PARTMIG_CHECK_H
#define PARTMIG_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (cond)                                                                                                      \
            check_passed++;                                                                                            \
        else {                                                                                                         \
            check_failed++;                                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                                   \
        }                                                                                                              \
    } while (0)

#define CHECK_STR(got, want)                                                                                           \
    do {                                                                                                               \
        const char *g_ = (got), *w_ = (want);                                                                          \
        if (g_ && w_ && strcmp(g_, w_) == 0)                                                                           \
            check_passed++;                                                                                            \
        else {                                                                                                         \
            check_failed++;                                                                                            \
            fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, g_ ? g_ : "(null)",                \
                    w_ ? w_ : "(null)");                                                                               \
        }                                                                                                              \
    } while (0)

static inline int check_report(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
