/* migdir.c: reading a migrations directory for the runtime. */
#include "migdir.h"

#include <stdio.h>
#include <string.h>

#include "../common/fs.h"
#include "../model/sum.h"

bool migdir_load(const char *dir, bool missing_ok, Arena *arena, MigDir *out, Err *err)
{
    memset(out, 0, sizeof *out);
    out->dir = arena_strdup(arena, dir);
    if (!fs_is_dir(dir)) {
        if (missing_ok)
            return true;
        err_set(err, PM_EINPUT, "migrations directory \"%s\" does not exist", dir);
        return err_hint(err, "pass -d DIR, or run \"partmig compile\" to create it");
    }
    const char **names = NULL;
    int n = 0;
    if (!sum_verify(dir, arena, &names, &n, err))
        return false;
    out->files = arena_alloc(arena, sizeof *out->files * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        MigFile *f = &out->files[i];
        f->name = names[i];
        f->path = arena_printf(arena, "%s/%s", dir, names[i]);
        char *text = NULL;
        size_t len = 0;
        if (!fs_read_all(f->path, arena, &text, &len, err))
            return false;
        sha256_hex(text, len, f->checksum);
        if (!plan_read(f->path, text, arena, &f->m, err))
            return false;
        const char *want = plan_file_name(&f->m, arena);
        if (strcmp(want, f->name) != 0) {
            err_at(err, PM_EINPUT, f->path, 1, "file name does not match its first line (expected \"%s\")", want);
            return err_hint(err, "migration files are never renamed by hand: restore them from version control");
        }
        if (i > 0 && f->m.version <= out->files[i - 1].m.version) {
            err_at(err, PM_EINPUT, f->path, 1, "version %04d is used twice", f->m.version);
            return err_hint(err, "two branches added the same version: recompile one of them on top of the other");
        }
        out->n++;
    }
    return true;
}

const MigFile *migdir_find(const MigDir *d, int version)
{
    for (int i = 0; i < d->n; i++)
        if (d->files[i].m.version == version)
            return &d->files[i];
    return NULL;
}

bool migdir_policy(const MigDir *d, const char *table, int version, Arena *arena, const char **json, Policy *out,
                   Err *err)
{
    *json = NULL;
    for (int i = d->n - 1; i >= 0; i--) {
        const Migration *m = &d->files[i].m;
        if (m->version > version)
            continue;
        for (int k = 0; k < m->nforgets; k++)
            if (!strcmp(m->forgets[k], table))
                return true;
        for (int k = 0; k < m->npolicies; k++) {
            Policy p;
            if (!policy_from_json(m->policies[k], arena, &p, err)) {
                char msg[sizeof err->msg];
                snprintf(msg, sizeof msg, "%s", err->msg);
                err_at(err, PM_EINPUT, d->files[i].path, 0, "%s", msg);
                return err_hint(err, "policy lines are written by \"partmig compile\"; restore the file");
            }
            if (!strcmp(policy_qualified_name(&p, arena), table)) {
                *json = m->policies[k];
                *out = p;
                return true;
            }
        }
    }
    return true;
}
