/* fuzz_sum.c: the partmig.sum reader (sum_verify) on an arbitrary sum file,
 * in a directory holding two real migration files. */
#include "model/sum.h"
#include "fuzz_util.h"

static const char migration1[] = "-- partmig migration 0001 events\n-- a migration\n";
static const char migration2[] = "-- partmig migration 0002 events_index\n-- another one\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[128];
    const char *dir = fuzz_scratch_dir();
    snprintf(path, sizeof path, "%s/0001_events.sql", dir);
    fuzz_write_file(path, migration1, sizeof migration1 - 1);
    snprintf(path, sizeof path, "%s/0002_events_index.sql", dir);
    fuzz_write_file(path, migration2, sizeof migration2 - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[128];
    const char *dir = fuzz_scratch_dir();
    snprintf(path, sizeof path, "%s/partmig.sum", dir);
    fuzz_write_file(path, data, size);
    Arena arena = {0};
    Err err;
    err_clear(&err);
    const char **names;
    int n;
    (void)sum_verify(dir, &arena, &names, &n, &err);
    arena_free(&arena);
    return 0;
}
