/* retry.c: the monotonic clock, sleeping, the lock policy's arithmetic
 * (waits growing from a short first try, jittered pauses between tries),
 * and the one loop that retries a locking step under it. */
#include "retry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"

double retry_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void retry_sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A uniform integer in [LO, HI]. */
static int jitter(int lo, int hi)
{
    static unsigned state;
    if (!state)
        state = ((unsigned)time(NULL) ^ (unsigned)getpid()) | 1u;
    return hi <= lo ? lo : lo + (int)(rand_r(&state) % (unsigned)(hi - lo + 1));
}

LockPolicy lock_policy(int cap_ms, int tries)
{
    LockPolicy p = {LOCK_FIRST_MS, cap_ms > 0 ? cap_ms : 500, tries > 0 ? tries : 1, 100, 2000};
    if (p.first_ms > p.cap_ms)
        p.first_ms = p.cap_ms;
    return p;
}

int lock_policy_timeout(const LockPolicy *p, int attempt)
{
    long t = (long)p->first_ms << (attempt < 16 ? attempt : 16);
    if (t >= p->cap_ms)
        return p->cap_ms;
    /* jittered down by up to a quarter, never below the first try's */
    int ms = jitter((int)(t * 3 / 4), (int)t);
    return ms < p->first_ms ? p->first_ms : ms;
}

int lock_policy_pause_ms(const LockPolicy *p, int attempt)
{
    long d = (long)p->pause_ms << (attempt < 16 ? attempt : 16);
    if (d > p->pause_cap_ms)
        d = p->pause_cap_ms;
    return jitter((int)(d / 2), (int)d);
}

int lock_policy_pause(const LockPolicy *p, int attempt)
{
    int ms = lock_policy_pause_ms(p, attempt);
    retry_sleep_ms(ms);
    return ms;
}

int lock_policy_parse_ms(const char *lock_timeout)
{
    char *end = NULL;
    double v = lock_timeout ? strtod(lock_timeout, &end) : -1;
    if (!lock_timeout || end == lock_timeout || !(v > 0) || v > 3600000)
        return -1;
    while (*end == ' ')
        end++;
    double ms = !*end || !strcmp(end, "ms") ? v : !strcmp(end, "s") ? v * 1000 : !strcmp(end, "min") ? v * 60000 : -1;
    return ms >= 1 && ms <= 3600000 ? (int)ms : -1;
}

bool retry_locked(const LockPolicy *p, const char *fixed_timeout, const char *label, RetryTry try_once, void *ctx,
                  bool *exhausted, Err *err)
{
    char lt[32];
    *exhausted = false;
    for (int attempt = 0;; attempt++) {
        const char *timeout = fixed_timeout;
        if (!timeout) {
            snprintf(lt, sizeof lt, "%dms", lock_policy_timeout(p, attempt));
            timeout = lt;
        }
        bool retry = false;
        if (try_once(ctx, timeout, &retry, err))
            return true;
        if (!retry)
            return false;
        if (attempt + 1 >= p->tries) {
            *exhausted = true;
            return false;
        }
        int ms = lock_policy_pause(p, attempt);
        log_msg(LOG_INFO, "%s: lock not granted within %s, retried after %d ms (try %d of %d)", label, timeout, ms,
                attempt + 2, p->tries);
    }
}
