/* maintain_dump.c: pg_dump of a detached partition into a file partmig creates itself, and the check of its rows. */
#include "maintain_dump.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/buf.h"
#include "../common/fs.h"
#include "../common/quote.h"
#include "pg.h"

struct DumpArchive {
    int dir_fd;    /* the dump directory, opened once (O_NOFOLLOW) */
    int fd;        /* the .partial, created by us */
    bool created;  /* the .partial exists and is ours to remove */
    char *name;    /* SCHEMA.TABLE.sql, relative to dir_fd */
    char *partial; /* NAME.partial */
    char *path;    /* DIR/NAME, for messages */
    char *shown;   /* PATH with control characters escaped */
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static bool is_control(unsigned char ch)
{
    return ch < 0x20 || ch == 0x7f;
}

/* S with control characters as \xNN, malloc'ed: names come from the
 * database and must not reach a terminal raw. */
static char *show(const char *s)
{
    Buf b = {0};
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (is_control(*p))
            buf_printf(&b, "\\x%02x", *p);
        else
            buf_putc(&b, (char)*p);
    char *out = xstrdup(buf_str(&b));
    buf_free(&b);
    return out;
}

bool dump_name_ok(const char *name)
{
    if (!name || !*name || strchr(name, '/') || strstr(name, ".."))
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (is_control(*p))
            return false;
    return true;
}

bool dump_dir_ok(const char *dir)
{
    if (!dir || !*dir)
        return false;
    for (const unsigned char *p = (const unsigned char *)dir; *p; p++)
        if (is_control(*p))
            return false;
    for (const char *c = dir; *c;) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return false;
        c += n;
        if (*c == '/')
            c++;
    }
    return true;
}

static bool bad_names(const char *schema, const char *table, Err *err)
{
    char *s = show(schema), *t = show(table);
    err_set(err, PM_EDB, "partition \"%s.%s\" cannot be dumped: its name would not be a plain file name", s, t);
    err_hint(err, "rename it without \"/\", \"..\" or control characters (ALTER TABLE ... RENAME), then run "
                  "maintain again; it was not changed");
    free(s);
    free(t);
    return false;
}

static bool names_ok(const char *schema, const char *table, Err *err)
{
    if (!dump_name_ok(schema) || !dump_name_ok(table))
        return bad_names(schema, table, err);
    return true;
}

/* DIR without trailing "/" and "/." ("/" and "." stay): O_NOFOLLOW looks at
 * the last component only, and "link/" or "link/." would go through a link. */
static char *trim_dir(const char *dir)
{
    char *d = xstrdup(dir);
    size_t n = strlen(d);
    for (;;) {
        if (n > 1 && d[n - 1] == '/')
            d[--n] = '\0';
        else if (n > 2 && d[n - 1] == '.' && d[n - 2] == '/')
            d[n -= 2] = '\0';
        else if (n == 2 && d[0] == '/' && d[1] == '.')
            d[n = 1] = '\0';
        else
            break;
    }
    return d;
}

/* Open dump directory DIR (O_DIRECTORY|O_NOFOLLOW), creating it 0700 when
 * missing and CREATE; *FD -1 when it is missing and not CREATE.  A symbolic
 * link, another user's directory or one writable by group or others is
 * refused. */
static bool open_dir(const char *dir, bool create, int *fd, Err *err)
{
    *fd = -1;
    char *shown = show(dir);
    char *path = trim_dir(dir);
    bool ok = false;
    if (!dump_dir_ok(dir)) {
        err_set(err, PM_EDB,
                "dump directory \"%s\" is refused: it is empty, climbs with \"..\" or holds control "
                "characters",
                shown);
        err_hint(err, "name a plain directory in the policy's retention.archive = \"dump:DIR\"");
        goto done;
    }
    int d = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d < 0 && errno == ENOENT && create) {
        char *slash = strrchr(path, '/');
        if (slash && slash != path) {
            *slash = '\0';
            bool made = fs_mkdirs(path, err);
            *slash = '/';
            if (!made)
                goto done;
        }
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            err_set(err, PM_EDB, "cannot create dump directory \"%s\": %s", shown, strerror(errno));
            err_hint(err, "check the permissions of its parent directory");
            goto done;
        }
        d = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (d < 0) {
        int e = errno;
        struct stat ls;
        if (e == ENOENT && !create)
            ok = true;
        else if (lstat(path, &ls) == 0 && S_ISLNK(ls.st_mode)) {
            err_set(err, PM_EDB, "dump directory \"%s\" is a symbolic link: refused", shown);
            err_hint(err, "name the real directory in retention.archive, or replace the link by a directory");
        } else {
            err_set(err, PM_EDB, "cannot open dump directory \"%s\": %s", shown, strerror(e));
            err_hint(err, "retention.archive = \"dump:DIR\" must name a directory partmig may write");
        }
        goto done;
    }
    struct stat st;
    if (fstat(d, &st) != 0) {
        err_set(err, PM_EDB, "cannot stat dump directory \"%s\": %s", shown, strerror(errno));
        err_hint(err, "check the directory");
    } else if (st.st_uid != geteuid() && st.st_uid != 0) {
        err_set(err, PM_EDB, "dump directory \"%s\" belongs to uid %ld, not to the user running partmig: refused",
                shown, (long)st.st_uid);
        err_hint(err, "use a directory owned by the user that runs partmig maintain (or by root)");
    } else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        err_set(err, PM_EDB, "dump directory \"%s\" is writable by group or others (mode %04o): refused", shown,
                (unsigned)(st.st_mode & 07777));
        err_hint(err, "chmod go-w it (archives belong in a 0700 directory)");
    } else {
        *fd = d;
        d = -1;
        ok = true;
    }
    if (d >= 0)
        close(d);
done:
    free(shown);
    free(path);
    return ok;
}

bool dump_check_target(const char *dir, const char *schema, const char *table, Err *err)
{
    if (!names_ok(schema, table, err))
        return false;
    int fd = -1;
    if (!open_dir(dir, false, &fd, err))
        return false;
    if (fd >= 0)
        close(fd);
    return true;
}

/* KEY='VALUE' for a conninfo string (libpq: backslash escapes ' and \). */
static void conninfo_append(Buf *b, const char *key, const char *val)
{
    if (b->len)
        buf_putc(b, ' ');
    buf_append(b, key);
    buf_append(b, "='");
    for (const char *p = val; *p; p++) {
        if (*p == '\'' || *p == '\\')
            buf_putc(b, '\\');
        buf_putc(b, *p);
    }
    buf_putc(b, '\'');
}

bool dump_command(const char *db_url, const char *schema, const char *table, DumpCommand *cmd, Err *err)
{
    memset(cmd, 0, sizeof *cmd);
    PgConnParams params;
    if (!pg_conn_params(db_url, &params, err))
        return false;
    const char *prog = getenv("PARTMIG_PG_DUMP");
    if (!prog || !*prog)
        prog = "pg_dump";
    Buf pattern = {0}, conninfo = {0};
    /* inside double quotes pg_dump's pattern characters are literal */
    quote_qualified(&pattern, schema, table);
    for (int i = 0; i < params.n; i++)
        conninfo_append(&conninfo, params.keys[i], params.vals[i]);
    cmd->argv = calloc(9, sizeof *cmd->argv);
    if (!cmd->argv)
        abort();
    int k = 0;
    cmd->argv[k++] = xstrdup(prog);
    cmd->argv[k++] = xstrdup("--format=plain");
    cmd->argv[k++] = xstrdup("--no-password");
    cmd->argv[k++] = xstrdup("--strict-names");
    cmd->argv[k++] = xstrdup("--table");
    cmd->argv[k++] = xstrdup(buf_str(&pattern));
    if (conninfo.len) {
        buf_reset(&pattern);
        buf_printf(&pattern, "--dbname=%s", buf_str(&conninfo));
        cmd->argv[k++] = xstrdup(buf_str(&pattern));
    }
    cmd->argv[k] = NULL;
    cmd->password = xstrdup(params.password);
    pg_conn_params_free(&params);
    buf_free(&pattern);
    buf_free(&conninfo);
    return true;
}

void dump_command_free(DumpCommand *cmd)
{
    for (int i = 0; cmd->argv && cmd->argv[i]; i++)
        free(cmd->argv[i]);
    free(cmd->argv);
    free(cmd->password);
    memset(cmd, 0, sizeof *cmd);
}

/* Run pg_dump for SCHEMA.TABLE with its standard output on OUT_FD. */
static bool run_pg_dump(const char *db_url, const char *schema, const char *table, int out_fd, Err *err)
{
    DumpCommand cmd;
    if (!dump_command(db_url, schema, table, &cmd, err))
        return false;
    char *s = show(schema), *t = show(table);
    bool ok = false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        err_set(err, PM_EDB, "cannot start pg_dump: %s", strerror(errno));
        err_hint(err, "the table is kept; run maintain again");
        goto done;
    }
    if (pid == 0) {
        if (dup2(out_fd, STDOUT_FILENO) < 0)
            _exit(127);
        /* the URL may hold the password: pg_dump gets PGPASSWORD alone */
        unsetenv("PARTMIG_DATABASE_URL");
        if (*cmd.password)
            setenv("PGPASSWORD", cmd.password, 1);
        execvp(cmd.argv[0], cmd.argv);
        fprintf(stderr, "partmig: cannot run \"%s\": %s\n", cmd.argv[0], strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            err_set(err, PM_EDB, "waiting for pg_dump: %s", strerror(errno));
            goto done;
        }
    if (WIFSIGNALED(status))
        err_set(err, PM_EDB, "pg_dump of \"%s.%s\" was killed by signal %d", s, t, WTERMSIG(status));
    else if (WEXITSTATUS(status) != 0)
        err_set(err, PM_EDB, "pg_dump of \"%s.%s\" failed (exit status %d)", s, t, WEXITSTATUS(status));
    else
        ok = true;
    if (!ok)
        err_hint(err, "see pg_dump's message above; the table is kept");
done:
    free(s);
    free(t);
    dump_command_free(&cmd);
    return ok;
}

bool dump_count_rows(int fd, const char *shown, int64_t *rows, Err *err)
{
    *rows = 0;
    int copy = -1;
    if (lseek(fd, 0, SEEK_SET) != 0 || (copy = dup(fd)) < 0)
        return err_set(err, PM_EDB, "cannot read dump \"%s\": %s", shown, strerror(errno));
    FILE *f = fdopen(copy, "r");
    if (!f) {
        close(copy);
        return err_set(err, PM_EDB, "cannot read dump \"%s\": %s", shown, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int blocks = 0;
    bool in_copy = false, ok = false;
    while ((len = getline(&line, &cap, f)) >= 0) {
        if (in_copy) {
            if (!strcmp(line, "\\.\n") || !strcmp(line, "\\."))
                in_copy = false;
            else
                (*rows)++;
        } else if (!strncmp(line, "COPY ", 5) && len > 12 && strstr(line, " FROM stdin;")) {
            in_copy = true;
            blocks++;
        }
    }
    if (ferror(f))
        err_set(err, PM_EDB, "cannot read dump \"%s\": %s", shown, strerror(errno));
    else if (in_copy)
        err_set(err, PM_EDB, "dump \"%s\" ends inside its COPY block", shown);
    else if (blocks != 1)
        err_set(err, PM_EDB, "dump \"%s\" holds %d COPY blocks, expected 1", shown, blocks);
    else
        ok = true;
    if (!ok)
        err_hint(err, "the table is kept; check pg_dump and the disk, then run maintain again");
    free(line);
    fclose(f);
    return ok;
}

bool dump_archive_write(const char *db_url, const char *dir, const char *schema, const char *table, int64_t rows,
                        DumpArchive **out, Err *err)
{
    *out = NULL;
    if (!names_ok(schema, table, err))
        return false;
    DumpArchive *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    d->dir_fd = d->fd = -1;
    Buf b = {0};
    buf_printf(&b, "%s.%s.sql", schema, table);
    d->name = xstrdup(buf_str(&b));
    buf_append(&b, ".partial");
    d->partial = xstrdup(buf_str(&b));
    buf_reset(&b);
    buf_printf(&b, "%s/%s", dir, d->name);
    d->path = xstrdup(buf_str(&b));
    d->shown = show(d->path);
    buf_free(&b);
    if (!dump_name_ok(d->name)) {
        bad_names(schema, table, err);
        goto fail;
    }
    if (!open_dir(dir, true, &d->dir_fd, err))
        goto fail;
    struct stat st;
    if (fstatat(d->dir_fd, d->name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
        err_set(err, PM_EDB, "dump \"%s\" exists already: not overwritten, the table is kept", d->shown);
        err_hint(err, "an earlier run may have written it: check it, move it away, then run maintain again");
        goto fail;
    }
    d->fd = openat(d->dir_fd, d->partial, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (d->fd < 0) {
        if (errno == EEXIST) {
            err_set(err, PM_EDB, "dump \"%s.partial\" exists already: not touched, the table is kept", d->shown);
            err_hint(err, "an interrupted run may have left it: check it, remove it, then run maintain again");
        } else {
            err_set(err, PM_EDB, "cannot create dump \"%s.partial\": %s", d->shown, strerror(errno));
            err_hint(err, "check the dump directory's permissions and free space");
        }
        goto fail;
    }
    d->created = true;
    if (!run_pg_dump(db_url, schema, table, d->fd, err))
        goto fail;
    int64_t dumped = -1;
    if (!dump_count_rows(d->fd, d->shown, &dumped, err))
        goto fail;
    if (dumped != rows) {
        char *s = show(schema), *t = show(table);
        err_set(err, PM_EDB, "dump \"%s\" holds %lld rows but table \"%s.%s\" has %lld: the table is kept, not dropped",
                d->shown, (long long)dumped, s, t, (long long)rows);
        err_hint(err, "the detached table is kept; check the dump and disk space, then run maintain again");
        free(s);
        free(t);
        goto fail;
    }
    /* on disk before the table is dropped: a crash must not lose both */
    if (fsync(d->fd) != 0) {
        err_set(err, PM_EDB, "cannot fsync dump \"%s.partial\": %s", d->shown, strerror(errno));
        err_hint(err, "check the disk; the table is kept");
        goto fail;
    }
    *out = d;
    return true;
fail:
    dump_archive_close(d);
    return false;
}

bool dump_archive_publish(DumpArchive *d, Err *err)
{
    if (renameat2(d->dir_fd, d->partial, d->dir_fd, d->name, RENAME_NOREPLACE) == 0)
        d->created = false;
    else if (errno == EINVAL || errno == ENOSYS) {
        /* a file system that cannot rename without replacing: a hard link
         * never replaces either */
        if (linkat(d->dir_fd, d->partial, d->dir_fd, d->name, 0) != 0)
            goto fail;
        if (unlinkat(d->dir_fd, d->partial, 0) == 0)
            d->created = false;
    } else
        goto fail;
    if (fsync(d->dir_fd) != 0) {
        err_set(err, PM_EDB, "cannot fsync the directory of dump \"%s\": %s", d->shown, strerror(errno));
        return err_hint(err, "check the disk; the table is kept");
    }
    return true;
fail:
    if (errno == EEXIST) {
        err_set(err, PM_EDB, "dump \"%s\" appeared while it was written: not overwritten, the table is kept", d->shown);
        return err_hint(err, "check who else writes into the dump directory, then run maintain again");
    }
    err_set(err, PM_EDB, "cannot rename \"%s.partial\" to \"%s\": %s", d->shown, d->shown, strerror(errno));
    return err_hint(err, "check the dump directory; the table is kept");
}

const char *dump_archive_path(const DumpArchive *d)
{
    return d->path;
}

void dump_archive_close(DumpArchive *d)
{
    if (!d)
        return;
    if (d->created)
        unlinkat(d->dir_fd, d->partial, 0);
    if (d->fd >= 0)
        close(d->fd);
    if (d->dir_fd >= 0)
        close(d->dir_fd);
    free(d->name);
    free(d->partial);
    free(d->path);
    free(d->shown);
    free(d);
}
