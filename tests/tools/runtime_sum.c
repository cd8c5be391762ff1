/* runtime_sum.c: test helper -- (re)write DIR/partmig.sum for the migration
 * files in DIR, so tests can hand-write or deliberately change migrations. */
#include <stdio.h>
#include <string.h>

#include "common/fs.h"
#include "model/sum.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: runtime_sum DIR\n");
        return 2;
    }
    Arena a = {0};
    Err err;
    err_clear(&err);
    const char **names = NULL;
    int n = 0;
    char *text = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/partmig.sum", argv[1]);
    bool ok = fs_list(argv[1], ".sql", false, &a, &names, &n, &err) &&
              sum_compute(argv[1], names, n, &a, &text, &err) && fs_write_atomic(path, text, strlen(text), &err);
    if (!ok)
        err_print(&err);
    arena_free(&a);
    return ok ? 0 : 1;
}
