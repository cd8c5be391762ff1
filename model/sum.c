/* sum.c: compute and verify partmig.sum. */
#include "sum.h"

#include <stdio.h>
#include <string.h>

#include "../common/buf.h"
#include "../common/fs.h"
#include "../common/sha256.h"

bool sum_compute(const char *dir, const char *const *names, int n, Arena *arena, char **text, Err *err)
{
    Buf body = {0}, tmp = {0};
    char chain[SHA256_HEX_LEN + 1] = "";
    bool ok = false;
    for (int i = 0; i < n; i++) {
        char path[4096], fh[SHA256_HEX_LEN + 1];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        /* through fs_read_all: a FIFO, device or link named like a
         * migration is refused, never waited on or followed */
        Arena scratch = {0};
        char *data;
        size_t len;
        bool read = fs_read_all(path, &scratch, &data, &len, err);
        if (read)
            sha256_hex(data, len, fh);
        arena_free(&scratch);
        if (!read)
            goto done;
        buf_reset(&tmp);
        buf_printf(&tmp, "%s %s %s", chain, names[i], fh);
        sha256_hex(tmp.data, tmp.len, chain);
        buf_printf(&body, "%s %s %s\n", names[i], fh, chain);
    }
    char total[SHA256_HEX_LEN + 1];
    sha256_hex(buf_str(&body), body.len, total);
    *text = arena_printf(arena, "h1:%s\n%s", total, buf_str(&body));
    ok = true;
done:
    buf_free(&body);
    buf_free(&tmp);
    return ok;
}

/* First line of TEXT that differs from WANT, as "name" (or NULL if the sum
 * itself is malformed). */
static const char *first_difference(Arena *arena, const char *have, const char *want)
{
    const char *h = strchr(have, '\n'), *w = strchr(want, '\n');
    while (h && w) {
        h++;
        w++;
        size_t hl = strcspn(h, "\n"), wl = strcspn(w, "\n");
        if (hl != wl || strncmp(h, w, hl) != 0) {
            const char *line = wl ? w : h;
            return arena_strndup(arena, line, strcspn(line, " \n"));
        }
        h = strchr(h, '\n');
        w = strchr(w, '\n');
    }
    return NULL;
}

bool sum_verify(const char *dir, Arena *arena, const char ***names, int *n, Err *err)
{
    if (!fs_list(dir, ".sql", true, arena, names, n, err))
        return false;
    char path[4096];
    snprintf(path, sizeof path, "%s/partmig.sum", dir);
    if (!fs_exists(path)) {
        if (*n == 0)
            return true;
        err_set(err, PM_EINPUT, "\"%s\" is missing", path);
        return err_hint(err, "restore it from version control, or run \"partmig compile\" to rebuild the directory");
    }
    char *have, *want;
    if (!fs_read_all(path, arena, &have, NULL, err) || !sum_compute(dir, *names, *n, arena, &want, err))
        return false;
    if (strcmp(have, want) == 0)
        return true;
    const char *file = first_difference(arena, have, want);
    if (file && *file)
        err_set(err, PM_EINPUT, "migration \"%s/%s\" does not match \"%s\" (edited, added, removed or reordered)", dir,
                file, path);
    else
        err_set(err, PM_EINPUT, "\"%s\" does not match the migration files", path);
    return err_hint(err, "migration files are never edited by hand: restore them from version control, "
                         "then change the policy and run \"partmig compile\"");
}
