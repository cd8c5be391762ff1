/* sqlcheck.c: test helper -- parses every statement of the given SQL files with
 * libpg_query (partmig migrations step by step, undo blocks included) and
 * prints "FILE: N statements"; exit 1 on the first file that does not parse.
 * Independent of `partmig lint`'s rules: only the parser is shared. */
#include <stdio.h>
#include <string.h>

#include "common/arena.h"
#include "common/fs.h"
#include "model/plan.h"
#include "common/sqlparse.h"

/* Parse SQL, adding its statements to *COUNT. */
static bool check(const char *sql, const char *path, int *count, Err *err)
{
    SqlScript *script = NULL;
    if (!sql_script_parse(sql, path, 1, &script, err))
        return false;
    *count += sql_script_count(script);
    sql_script_free(script);
    return true;
}

static bool check_file(const char *path)
{
    Arena arena = {0};
    char *text = NULL;
    size_t len = 0;
    int count = 0;
    Err err;
    bool ok = false;
    err_clear(&err);

    if (!fs_read_all(path, &arena, &text, &len, &err))
        goto done;
    if (!strncmp(text, "-- partmig migration ", 21)) {
        Migration m;
        if (!plan_read(path, text, &arena, &m, &err))
            goto done;
        for (int i = 0; i < m.nsteps; i++) {
            if (m.steps[i].sql && !check(m.steps[i].sql, path, &count, &err))
                goto done;
            if (m.steps[i].undo_sql && !check(m.steps[i].undo_sql, path, &count, &err))
                goto done;
        }
        /* the preamble and the rest, as psql would run the file */
        if (!check(text, path, &count, &err))
            goto done;
    } else if (!check(text, path, &count, &err)) {
        goto done;
    }
    printf("%s: %d statements\n", path, count);
    ok = true;
done:
    if (!ok)
        err_print(&err);
    arena_free(&arena);
    return ok;
}

int main(int argc, char **argv)
{
    int status = 0;
    if (argc < 2) {
        fputs("usage: sqlcheck FILE...\n", stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (!check_file(argv[i]))
            status = 1;
    sql_parse_cleanup();
    return status;
}
