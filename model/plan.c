/* plan.c: print a migration as a reviewable SQL file, and read it back. */
#include "plan.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const action_names[] = {
    [STEP_SQL] = "sql",           [STEP_ENSURE_TABLE] = "ensure_table",
    [STEP_PREMAKE] = "premake",   [STEP_BUILD_INDEX] = "build_index",
    [STEP_REGISTER] = "register", [STEP_UNREGISTER] = "unregister",
};
static const char *const undo_names[] = {[UNDO_NONE] = "none", [UNDO_SQL] = "sql", [UNDO_AUTO] = "auto"};

#define N_ACTIONS (int)(sizeof action_names / sizeof *action_names)

const char *step_action_name(StepAction a)
{
    return (int)a >= 0 && (int)a < N_ACTIONS ? action_names[a] : "?";
}

bool step_action_parse(const char *name, StepAction *out)
{
    for (int i = 0; i < N_ACTIONS; i++)
        if (!strcmp(name, action_names[i])) {
            *out = (StepAction)i;
            return true;
        }
    return false;
}

const char *step_arg(const Step *s, const char *key)
{
    for (int i = 0; i < s->nargs; i++)
        if (!strcmp(s->args[i].key, key))
            return s->args[i].value;
    return NULL;
}

/* Each line of TEXT behind PREFIX. */
static void write_lines(Buf *out, const char *prefix, const char *text)
{
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        buf_append(out, prefix);
        buf_appendn(out, p, n);
        /* never leave trailing blanks behind an empty comment line */
        while (out->len && out->data[out->len - 1] == ' ')
            out->data[--out->len] = '\0';
        buf_putc(out, '\n');
        p += n + (nl ? 1 : 0);
    }
}

static void write_attr(Buf *out, const char *key, const char *value)
{
    bool plain = *value != '\0';
    for (const char *c = value; *c; c++)
        if (isspace((unsigned char)*c) || *c == '"' || *c == '=')
            plain = false;
    buf_printf(out, plain ? " %s=%s" : " %s=\"%s\"", key, value);
}

void plan_write(const Migration *m, Buf *out)
{
    buf_printf(out, "-- partmig migration %04d %s\n", m->version, m->name);
    if (m->header)
        write_lines(out, "-- ", m->header);
    buf_append(out, "\n");
    buf_append(out, "SET client_encoding = 'UTF8';\n");
    buf_append(out, "SET standard_conforming_strings = on;\n");
    buf_append(out, "SET search_path = pg_catalog;\n");
    buf_printf(out, "SET lock_timeout = '%s';\n", m->lock_timeout ? m->lock_timeout : PLAN_LOCK_TIMEOUT);
    buf_append(out, "SET statement_timeout = 0;\n");
    buf_append(out, "SET client_min_messages = warning;\n");

    for (int i = 0; i < m->nsteps; i++) {
        const Step *s = &m->steps[i];
        buf_printf(out, "\n-- partmig:step %d", s->number);
        write_attr(out, "action", step_action_name(s->action));
        write_attr(out, "transactional", s->transactional ? "yes" : "no");
        if (s->table)
            write_attr(out, "table", s->table);
        write_attr(out, "undo", undo_names[s->undo]);
        for (int a = 0; a < s->nargs; a++)
            write_attr(out, s->args[a].key, s->args[a].value);
        if (s->lock)
            write_attr(out, "lock", s->lock);
        buf_append(out, "\n");
        if (s->title)
            write_lines(out, "-- ", s->title);
        if (s->comment)
            write_lines(out, "-- ", s->comment);
        if (s->sql)
            write_lines(out, "", s->sql);
        if (s->undo == UNDO_SQL && s->undo_sql) {
            buf_append(out, "-- partmig:undo\n");
            write_lines(out, "-- ", s->undo_sql);
        }
        buf_append(out, "-- partmig:end\n");
    }
    if (m->npolicies || m->nforgets)
        buf_append(out, "\n-- policy state after this version (read by partmig; do not edit)\n");
    for (int i = 0; i < m->nforgets; i++)
        buf_printf(out, "-- partmig:forget %s\n", m->forgets[i]);
    for (int i = 0; i < m->npolicies; i++)
        buf_printf(out, "-- partmig:policy %s\n", m->policies[i]);
}

const char *plan_file_name(const Migration *m, Arena *arena)
{
    return arena_printf(arena, "%04d_%s.sql", m->version, m->name);
}

/* ---- reader ---- */

typedef struct Reader {
    const char *path;
    Arena *arena;
    Err *err;
    int line;
} Reader;

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Parse ` key=value key="quoted value"` attributes of a step line into S.
 * Only what plan_write can write back is accepted: keys [a-z_]+, each once;
 * plain values without '"' or '='; quoted values followed by a space or the
 * end; transactional yes or no. */
static bool parse_step_attrs(Reader *r, const char *p, Step *s)
{
    int cap = 0;
    bool have_action = false;
    const char *seen[64];
    int nseen = 0;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t klen = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
        if (klen == 0 || p[klen] != '=')
            return err_at(r->err, PM_EINPUT, r->path, r->line, "malformed step line near \"%s\"", p);
        char *key = arena_strndup(r->arena, p, klen);
        const char *v = p + klen + 1;
        char *value;
        if (*v == '"') {
            const char *end = strchr(v + 1, '"');
            if (!end)
                return err_at(r->err, PM_EINPUT, r->path, r->line, "unterminated quote in step line");
            if (end[1] != '\0' && end[1] != ' ')
                return err_at(r->err, PM_EINPUT, r->path, r->line, "malformed step line near \"%s\"", v);
            value = arena_strndup(r->arena, v + 1, (size_t)(end - v - 1));
            p = end + 1;
        } else {
            const char *end = v + strcspn(v, " ");
            value = arena_strndup(r->arena, v, (size_t)(end - v));
            if (!*value || strpbrk(value, "\"="))
                return err_at(r->err, PM_EINPUT, r->path, r->line, "malformed step line near \"%s\"", v);
            p = end;
        }
        for (int i = 0; i < nseen; i++)
            if (!strcmp(seen[i], key))
                return err_at(r->err, PM_EINPUT, r->path, r->line, "step line repeats \"%s\"", key);
        if (nseen == (int)(sizeof seen / sizeof *seen))
            return err_at(r->err, PM_EINPUT, r->path, r->line, "step line has more than %d attributes", nseen);
        seen[nseen++] = key;
        if (!strcmp(key, "action")) {
            if (!step_action_parse(value, &s->action))
                return err_at(r->err, PM_EINPUT, r->path, r->line, "unknown step action \"%s\"", value);
            have_action = true;
        } else if (!strcmp(key, "transactional")) {
            if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
                return err_at(r->err, PM_EINPUT, r->path, r->line, "transactional \"%s\": expected yes or no", value);
            s->transactional = !strcmp(value, "yes");
        } else if (!strcmp(key, "table")) {
            s->table = value;
        } else if (!strcmp(key, "lock")) {
            s->lock = value;
        } else if (!strcmp(key, "undo")) {
            int k;
            for (k = 0; k < 3 && strcmp(undo_names[k], value); k++)
                ;
            if (k == 3)
                return err_at(r->err, PM_EINPUT, r->path, r->line, "unknown undo kind \"%s\"", value);
            s->undo = (UndoKind)k;
        } else {
            if (s->nargs == cap) {
                cap = cap ? cap * 2 : 4;
                s->args = arena_grow(r->arena, s->args, (size_t)s->nargs, (size_t)cap, sizeof *s->args);
            }
            s->args[s->nargs].key = key;
            s->args[s->nargs].value = value;
            s->nargs++;
        }
    }
    if (!have_action)
        return err_at(r->err, PM_EINPUT, r->path, r->line, "step line has no action");
    return true;
}

/* The first line "-- partmig migration NNNN name": version 1..INT_MAX in
 * decimal digits, name [a-z0-9_]+ (at most 127 bytes), nothing after. */
static bool parse_first_line(const char *line, Migration *out, Arena *arena)
{
    static const char prefix[] = "-- partmig migration ";
    if (strncmp(line, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *p = line + sizeof prefix - 1;
    size_t ndigits = strspn(p, "0123456789");
    if (ndigits == 0 || ndigits > 9 || p[ndigits] != ' ')
        return false;
    int version = atoi(p); /* at most 9 digits: fits an int */
    const char *name = p + ndigits + 1;
    size_t nlen = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_");
    if (version <= 0 || nlen == 0 || nlen > 127 || name[nlen] != '\0')
        return false;
    out->version = version;
    out->name = arena_strndup(arena, name, nlen);
    return true;
}

/* Join accumulated lines into an arena string (NULL when empty), trimming
 * trailing blank lines. */
static const char *take(Reader *r, Buf *b)
{
    while (b->len && b->data[b->len - 1] == '\n')
        b->data[--b->len] = '\0';
    const char *s = b->len ? arena_strdup(r->arena, b->data) : NULL;
    buf_reset(b);
    return s;
}

static void add_line(Buf *b, const char *p, size_t n)
{
    if (b->len)
        buf_putc(b, '\n');
    buf_appendn(b, p, n);
}

bool plan_read(const char *path, const char *text, Arena *arena, Migration *out, Err *err)
{
    Reader r = {path, arena, err, 0};
    memset(out, 0, sizeof *out);
    enum { HEADER, PREAMBLE, STEP_COMMENT, STEP_SQL_BODY, STEP_UNDO, OUTSIDE } state = HEADER;
    Buf title = {0}, comment = {0}, sql = {0}, undo = {0}, header = {0};
    int steps_cap = 0, pol_cap = 0, fg_cap = 0;
    Step *cur = NULL;
    bool ok = false;

    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = arena_strndup(arena, p, n);
        p += n + (nl ? 1 : 0);
        r.line++;

        if (r.line == 1) {
            if (!parse_first_line(line, out, arena)) {
                err_at(err, PM_EINPUT, path, 1,
                       "not a partmig migration (first line must be \"-- partmig migration NNNN name\")");
                goto done;
            }
            continue;
        }
        if (starts_with(line, "--partmig:")) {
            /* would read back as a directive once written with "-- " */
            err_at(err, PM_EINPUT, path, r.line, "malformed directive \"%s\" (directives start \"-- partmig:\")", line);
            goto done;
        }
        if (starts_with(line, "-- partmig:step ")) {
            if (cur && state != OUTSIDE) {
                err_at(err, PM_EINPUT, path, r.line, "step %d has no \"-- partmig:end\"", cur->number);
                goto done;
            }
            if (out->nsteps == steps_cap) {
                steps_cap = steps_cap ? steps_cap * 2 : 8;
                out->steps = arena_grow(arena, out->steps, (size_t)out->nsteps, (size_t)steps_cap, sizeof *out->steps);
            }
            cur = &out->steps[out->nsteps++];
            char *after;
            long num = strtol(line + 16, &after, 10);
            if (num != out->nsteps) {
                err_at(err, PM_EINPUT, path, r.line, "step number %ld out of order (expected %d)", num, out->nsteps);
                goto done;
            }
            cur->number = (int)num;
            if (!parse_step_attrs(&r, after, cur))
                goto done;
            state = STEP_COMMENT;
            continue;
        }
        if (!strcmp(line, "-- partmig:undo")) {
            if (!cur || (state != STEP_SQL_BODY && state != STEP_COMMENT)) {
                err_at(err, PM_EINPUT, path, r.line, "\"-- partmig:undo\" outside a step");
                goto done;
            }
            state = STEP_UNDO;
            continue;
        }
        if (!strcmp(line, "-- partmig:end")) {
            if (!cur || state == OUTSIDE) {
                err_at(err, PM_EINPUT, path, r.line, "\"-- partmig:end\" outside a step");
                goto done;
            }
            cur->title = take(&r, &title);
            cur->comment = take(&r, &comment);
            cur->sql = take(&r, &sql);
            cur->undo_sql = take(&r, &undo);
            if (cur->undo == UNDO_SQL && !cur->undo_sql) {
                err_at(err, PM_EINPUT, path, r.line, "step %d says undo=sql but has no undo block", cur->number);
                goto done;
            }
            state = OUTSIDE;
            continue;
        }
        if (starts_with(line, "-- partmig:policy ")) {
            if (out->npolicies == pol_cap) {
                pol_cap = pol_cap ? pol_cap * 2 : 4;
                out->policies =
                    arena_grow(arena, out->policies, (size_t)out->npolicies, (size_t)pol_cap, sizeof *out->policies);
            }
            out->policies[out->npolicies++] = line + 18;
            continue;
        }
        if (starts_with(line, "-- partmig:forget ")) {
            if (out->nforgets == fg_cap) {
                fg_cap = fg_cap ? fg_cap * 2 : 4;
                out->forgets =
                    arena_grow(arena, out->forgets, (size_t)out->nforgets, (size_t)fg_cap, sizeof *out->forgets);
            }
            out->forgets[out->nforgets++] = line + 18;
            continue;
        }
        if (starts_with(line, "-- partmig:")) {
            err_at(err, PM_EINPUT, path, r.line, "unknown directive \"%s\"", line);
            goto done;
        }
        switch (state) {
        case HEADER:
            if (starts_with(line, "--")) {
                add_line(&header, line[2] == ' ' ? line + 3 : line + 2, strlen(line[2] == ' ' ? line + 3 : line + 2));
                break;
            }
            state = PREAMBLE;
            /* fall through */
        case PREAMBLE:
            if (starts_with(line, "SET lock_timeout = '")) {
                char *q = arena_strdup(arena, line + 20);
                char *e = strchr(q, '\'');
                if (e)
                    *e = '\0';
                out->lock_timeout = q;
            }
            break;
        case STEP_COMMENT:
            if (starts_with(line, "--") && sql.len == 0) {
                const char *c = line[2] == ' ' ? line + 3 : line + 2;
                add_line(title.len ? &comment : &title, c, strlen(c));
                break;
            }
            state = STEP_SQL_BODY;
            /* fall through */
        case STEP_SQL_BODY: add_line(&sql, line, n); break;
        case STEP_UNDO:
            if (!starts_with(line, "--")) {
                err_at(err, PM_EINPUT, path, r.line, "undo lines must be comments (\"-- ...\")");
                goto done;
            }
            add_line(&undo, line[2] == ' ' ? line + 3 : line + 2, strlen(line[2] == ' ' ? line + 3 : line + 2));
            break;
        case OUTSIDE:
            if (n && !starts_with(line, "--")) {
                err_at(err, PM_EINPUT, path, r.line, "SQL outside a step");
                goto done;
            }
            break;
        }
    }
    if (r.line == 0) {
        err_at(err, PM_EINPUT, path, 1, "empty migration file");
        goto done;
    }
    if (cur && state != OUTSIDE) {
        err_at(err, PM_EINPUT, path, r.line, "step %d has no \"-- partmig:end\"", cur->number);
        goto done;
    }
    out->header = take(&r, &header);
    ok = true;
done:
    buf_free(&title);
    buf_free(&comment);
    buf_free(&sql);
    buf_free(&undo);
    buf_free(&header);
    return ok;
}
