/* retry.h: waiting and retrying -- the one monotonic clock, the one sleep,
 * and the lock policy every locking step retries under (apply, rollback,
 * maintain and the conversion's locked steps). */
#ifndef PARTMIG_RETRY_H
#define PARTMIG_RETRY_H

#include <stdbool.h>

#include "../common/err.h"

/* Monotonic seconds (CLOCK_MONOTONIC): for durations, never for dates. */
double retry_now(void);

/* Sleep MS milliseconds (nothing when MS <= 0). */
void retry_sleep_ms(int ms);

/* How a locking transaction is retried after a lock timeout.  A waiting
 * ACCESS EXCLUSIVE request queues every writer behind it for as long as it
 * waits, so the first try waits briefly: try N (0-based) waits at most
 * min(cap_ms, first_ms << N) (25 ms doubling up to the migration's
 * lock_timeout), jittered down by up to a quarter, then pauses
 * min(pause_cap_ms, pause_ms << N) (100 ms doubling up to 2 s), jittered
 * in [d/2, d], before the next; TRIES tries in all.  One policy for
 * runner_tx, runner_stmt and the conversion's locked steps. */
#define LOCK_FIRST_MS 25
typedef struct LockPolicy {
    int first_ms, cap_ms, tries; /* the lock waits, and how many */
    int pause_ms, pause_cap_ms;  /* the pauses between tries */
} LockPolicy;

/* The policy capped at CAP_MS (the migration's lock_timeout; 500 when not
 * positive) with TRIES tries (at least 1). */
LockPolicy lock_policy(int cap_ms, int tries);
/* The lock_timeout of try ATTEMPT (0-based), in ms. */
int lock_policy_timeout(const LockPolicy *p, int attempt);
/* The pause after failed try ATTEMPT (0-based), in ms, without sleeping. */
int lock_policy_pause_ms(const LockPolicy *p, int attempt);
/* Sleep after failed try ATTEMPT (0-based); returns the milliseconds slept. */
int lock_policy_pause(const LockPolicy *p, int attempt);
/* A lock_timeout setting ("500ms", "2s", "1min", "300") in ms; -1 if not one. */
int lock_policy_parse_ms(const char *lock_timeout);

/* One try of a locking step with lock_timeout LOCK_TIMEOUT (text such as
 * "25ms"): true when it is done; false with ERR, *RETRY set when another
 * try may succeed (a lock timeout), left false otherwise. */
typedef bool (*RetryTry)(void *ctx, const char *lock_timeout, bool *retry, Err *err);

/* Run TRY under policy P: try N with P's lock_timeout for it (or
 * FIXED_TIMEOUT for every try when not NULL), a jittered pause and a line
 * "partmig: LABEL: lock not granted within ..., retried after ... ms (try
 * N of M)" between tries.  True when a try succeeds.  False with the try's
 * ERR when it may not be retried, or after P's last try with *EXHAUSTED
 * set (the caller says who held the lock). */
bool retry_locked(const LockPolicy *p, const char *fixed_timeout, const char *label, RetryTry try_once, void *ctx,
                  bool *exhausted, Err *err);

#endif
