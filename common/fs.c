/* fs.c: small file helpers. */
#define _POSIX_C_SOURCE 200809L
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool read_file(const char *path, bool follow, Arena *arena, char **text, size_t *len, Err *err);

bool fs_read_all(const char *path, Arena *arena, char **text, size_t *len, Err *err)
{
    return read_file(path, false, arena, text, len, err);
}

bool fs_read_regular(const char *path, Arena *arena, char **text, size_t *len, Err *err)
{
    return read_file(path, true, arena, text, len, err);
}

static bool read_file(const char *path, bool follow, Arena *arena, char **text, size_t *len, Err *err)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW
     * (unless FOLLOW): a symbolic link (to /dev/zero, or out of the
     * directory) is refused, not read.  fstat then refuses whatever is not
     * a regular file, where a followed link leads too. */
    char *data = NULL;
    bool ok = false;
    int fd = open(path, O_RDONLY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW) | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP) {
            err_set(err, PM_EINPUT, "\"%s\" is a symbolic link", path);
            return err_hint(err, "partmig reads only regular files here: replace the link by the file itself");
        }
        return err_set(err, PM_EINPUT, "cannot read \"%s\": %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        err_set(err, PM_EINPUT, "cannot read \"%s\": %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        err_set(err, PM_EINPUT, "\"%s\" is not a regular file (%s)", path,
                S_ISDIR(st.st_mode)    ? "a directory"
                : S_ISFIFO(st.st_mode) ? "a FIFO"
                : S_ISCHR(st.st_mode)  ? "a character device"
                : S_ISBLK(st.st_mode)  ? "a block device"
                : S_ISSOCK(st.st_mode) ? "a socket"
                                       : "a special file");
        err_hint(err, "partmig reads only regular files here: remove it or replace it by the file itself");
        goto done;
    }
    if (st.st_size > (off_t)FS_READ_MAX) {
        err_set(err, PM_EINPUT, "\"%s\" is larger than %d MiB", path, (int)(FS_READ_MAX >> 20));
        err_hint(err, "no file partmig writes or reads comes near that size: check that it is the right file");
        goto done;
    }
    /* Read up to the cap plus one byte: a file that grows while read is
     * refused as well. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    data = malloc(cap + 1);
    if (!data) {
        err_set(err, PM_EINPUT, "cannot read \"%s\": out of memory", path);
        goto done;
    }
    for (;;) {
        if (n == cap) {
            if (cap > FS_READ_MAX) {
                err_set(err, PM_EINPUT, "\"%s\" is larger than %d MiB", path, (int)(FS_READ_MAX >> 20));
                err_hint(err, "no file partmig writes or reads comes near that size: check that it is the right file");
                goto done;
            }
            size_t grown = cap * 2 > FS_READ_MAX + 1 ? FS_READ_MAX + 1 : cap * 2;
            char *p = realloc(data, grown + 1);
            if (!p) {
                err_set(err, PM_EINPUT, "cannot read \"%s\": out of memory", path);
                goto done;
            }
            data = p;
            cap = grown;
        }
        ssize_t got = read(fd, data + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            err_set(err, PM_EINPUT, "cannot read \"%s\": %s", path, strerror(errno));
            goto done;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    *text = arena_strndup(arena, data, n);
    if (len)
        *len = n;
    ok = true;
done:
    free(data);
    close(fd);
    return ok;
}

bool fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

bool fs_write_atomic(const char *path, const char *data, size_t len, Err *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return err_set(err, PM_EINPUT, "cannot write \"%s\": %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return err_set(err, PM_EINPUT, "cannot write \"%s\": %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return err_set(err, PM_EINPUT, "cannot write \"%s\": %s", path, strerror(e));
    }
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool fs_list(const char *dir, const char *suffix, bool missing_ok, Arena *arena, const char ***names, int *n, Err *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (missing_ok && errno == ENOENT)
            return true;
        return err_set(err, PM_EINPUT, "cannot read directory \"%s\": %s", dir, strerror(errno));
    }
    int cap = 0;
    size_t slen = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < slen || strcmp(e->d_name + len - slen, suffix) != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *names = arena_grow(arena, (void *)*names, (size_t)*n, (size_t)cap, sizeof **names);
        }
        (*names)[(*n)++] = arena_strdup(arena, e->d_name);
    }
    closedir(d);
    if (*n > 1)
        qsort((void *)*names, (size_t)*n, sizeof **names, cmp_str);
    return true;
}

bool fs_sync(const char *path, Err *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return err_set(err, PM_EDB, "cannot open \"%s\" to sync it: %s", path, strerror(errno));
    bool ok = fsync(fd) == 0;
    int e = errno;
    close(fd);
    return ok ? true : err_set(err, PM_EDB, "cannot sync \"%s\" to disk: %s", path, strerror(e));
}

bool fs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool fs_mkdirs(const char *path, Err *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return err_set(err, PM_EINPUT, "cannot create \"%s\": %s", tmp, strerror(errno));
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return err_set(err, PM_EINPUT, "cannot create \"%s\": %s", tmp, strerror(errno));
    return true;
}
