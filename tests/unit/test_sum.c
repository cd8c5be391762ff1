/* test_sum.c: partmig.sum -- computed, verified, and every tampering detected. */
#include <stdlib.h>

#include "check.h"
#include "common/fs.h"
#include "model/sum.h"

static char dir[] = "/tmp/partmig-sum-XXXXXX";

static void put(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void write_sum(Arena *a, const char *const *names, int n)
{
    char *text;
    Err err;
    err_clear(&err);
    CHECK(sum_compute(dir, names, n, a, &text, &err));
    put("partmig.sum", text);
}

static bool verify(Arena *a, Err *err)
{
    const char **names;
    int n;
    err_clear(err);
    return sum_verify(dir, a, &names, &n, err);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    Arena a = {0};
    Err err;
    CHECK(verify(&a, &err)); /* empty directory is fine */

    const char *names[] = {"0001_a.sql", "0002_b.sql"};
    put(names[0], "-- partmig migration 0001 a\n");
    put(names[1], "-- partmig migration 0002 b\n");
    write_sum(&a, names, 2);
    CHECK(verify(&a, &err));

    /* deterministic */
    char *t1, *t2;
    CHECK(sum_compute(dir, names, 2, &a, &t1, &err) && sum_compute(dir, names, 2, &a, &t2, &err));
    CHECK_STR(t1, t2);
    CHECK(strncmp(t1, "h1:", 3) == 0);

    put(names[1], "-- partmig migration 0002 b\n-- edited\n");
    CHECK(!verify(&a, &err));
    CHECK(err.code == PM_EINPUT && strstr(err.msg, "0002_b.sql") != NULL);
    put(names[1], "-- partmig migration 0002 b\n");
    CHECK(verify(&a, &err));

    put("0003_c.sql", "-- partmig migration 0003 c\n"); /* unlisted */
    CHECK(!verify(&a, &err));
    CHECK(strstr(err.msg, "0003_c.sql") != NULL);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm %s/0003_c.sql %s/0001_a.sql", dir, dir); /* removed */
    CHECK(system(cmd) == 0);
    CHECK(!verify(&a, &err));

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    arena_free(&a);
    return check_report();
}
