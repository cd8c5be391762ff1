/* test_retry.c: the lock policy's waits and pauses, the lock_timeout parser,
 * the clock and the sleep, and the retry loop (runtime/retry.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/retry.h"
#include "check.h"

static void test_policy_waits(void)
{
    LockPolicy p = lock_policy(500, 8);
    CHECK(p.first_ms == LOCK_FIRST_MS && p.cap_ms == 500 && p.tries == 8);
    /* try N waits within [3/4, 1] of 25 << N, never below the first, capped */
    for (int round = 0; round < 50; round++) {
        for (int n = 0; n < 8; n++) {
            int t = lock_policy_timeout(&p, n);
            long full = (long)LOCK_FIRST_MS << n;
            if (full >= 500) {
                CHECK(t == 500);
            } else {
                CHECK(t >= full * 3 / 4 && t <= full && t >= LOCK_FIRST_MS);
            }
        }
    }
    CHECK(lock_policy_timeout(&p, 40) == 500); /* no shift overflow */
    /* the pauses: in [d/2, d], d = 100 << N capped at 2 s */
    for (int round = 0; round < 50; round++) {
        for (int n = 0; n < 10; n++) {
            int ms = lock_policy_pause_ms(&p, n);
            long d = 100L << n;
            if (d > 2000)
                d = 2000;
            CHECK(ms >= d / 2 && ms <= d);
        }
    }
    /* a cap below the first wait lowers the first; no cap and no tries get defaults */
    LockPolicy small = lock_policy(10, 0);
    CHECK(small.first_ms == 10 && small.cap_ms == 10 && small.tries == 1);
    CHECK(lock_policy_timeout(&small, 0) == 10);
    CHECK(lock_policy(0, 3).cap_ms == 500);
}

static void test_parse_ms(void)
{
    CHECK(lock_policy_parse_ms("500ms") == 500);
    CHECK(lock_policy_parse_ms("2s") == 2000);
    CHECK(lock_policy_parse_ms("1min") == 60000);
    CHECK(lock_policy_parse_ms("300") == 300);
    CHECK(lock_policy_parse_ms("1.5s") == 1500);
    CHECK(lock_policy_parse_ms("2 s") == 2000);
    CHECK(lock_policy_parse_ms("0") == -1);
    CHECK(lock_policy_parse_ms("-5ms") == -1);
    CHECK(lock_policy_parse_ms("2h") == -1);
    CHECK(lock_policy_parse_ms("abc") == -1);
    CHECK(lock_policy_parse_ms("") == -1);
    CHECK(lock_policy_parse_ms(NULL) == -1);
    CHECK(lock_policy_parse_ms("61min") == -1);
}

static void test_clock_and_sleep(void)
{
    double t0 = retry_now();
    retry_sleep_ms(30);
    double el = retry_now() - t0;
    CHECK(el >= 0.029 && el < 5.0);
    t0 = retry_now();
    retry_sleep_ms(0);
    retry_sleep_ms(-7);
    CHECK(retry_now() - t0 < 0.02);
    int ms = 0;
    LockPolicy p = lock_policy(500, 2);
    t0 = retry_now();
    ms = lock_policy_pause(&p, 0);
    el = retry_now() - t0;
    CHECK(ms >= 50 && ms <= 100 && el >= ms / 1000.0 - 0.001);
}

/* A step that fails FAILS times (retryable when RETRYABLE), then succeeds;
 * the lock_timeouts it was given, in order. */
typedef struct FakeStep {
    int fails, calls;
    bool retryable;
    char seen[16][32];
} FakeStep;

static bool fake_try(void *ctx, const char *lock_timeout, bool *retry, Err *err)
{
    FakeStep *f = ctx;
    if (f->calls < 16)
        snprintf(f->seen[f->calls], sizeof f->seen[0], "%s", lock_timeout);
    if (f->calls++ < f->fails) {
        *retry = f->retryable;
        return err_set(err, PM_EDB, "canceling statement due to lock timeout");
    }
    return true;
}

static void test_retry_locked(void)
{
    Err err;
    bool exhausted = true;
    /* two lock timeouts, then done: three tries, waits growing from 25 ms */
    LockPolicy p = lock_policy(500, 8);
    FakeStep f = {.fails = 2, .retryable = true};
    CHECK(retry_locked(&p, NULL, "step 0001:1", fake_try, &f, &exhausted, &err));
    CHECK(f.calls == 3 && !exhausted);
    CHECK_STR(f.seen[0], "25ms");
    int t1 = atoi(f.seen[1]), t2 = atoi(f.seen[2]);
    CHECK(t1 >= 37 && t1 <= 50 && t2 >= 75 && t2 <= 100);
    /* always timing out: exactly TRIES tries, then exhausted with the last error */
    LockPolicy three = lock_policy(500, 3);
    FakeStep g = {.fails = 100, .retryable = true};
    CHECK(!retry_locked(&three, NULL, "step 0001:2", fake_try, &g, &exhausted, &err));
    CHECK(g.calls == 3 && exhausted);
    CHECK(strstr(err.msg, "lock timeout") != NULL);
    /* another error: no retry, not exhausted */
    FakeStep h = {.fails = 1, .retryable = false};
    CHECK(!retry_locked(&p, NULL, "step 0001:3", fake_try, &h, &exhausted, &err));
    CHECK(h.calls == 1 && !exhausted);
    /* a fixed lock_timeout (not a plain duration) for every try */
    LockPolicy two = lock_policy(-1, 2);
    FakeStep k = {.fails = 1, .retryable = true};
    CHECK(retry_locked(&two, "1h", "step 0001:4", fake_try, &k, &exhausted, &err));
    CHECK(k.calls == 2);
    CHECK_STR(k.seen[0], "1h");
    CHECK_STR(k.seen[1], "1h");
}

int main(void)
{
    test_policy_waits();
    test_parse_ms();
    test_clock_and_sleep();
    test_retry_locked();
    return check_report();
}
