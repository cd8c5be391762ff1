/* fs.h: small file helpers (read whole, write atomically, list a directory). */
#ifndef PARTMIG_FS_H
#define PARTMIG_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "err.h"

/* The largest file fs_read_all reads.  A migration at the partition cap
 * with long names is under 64 MiB; compile refuses to write one over this. */
#define FS_READ_MAX ((size_t)128 << 20)

/* Read a whole regular file into ARENA, NUL-terminated.  Never blocks on or
 * follows what is not a plain file: a symbolic link, FIFO, device, socket or
 * directory is refused, and so is a file over FS_READ_MAX.  Errors:
 * PM_EINPUT naming PATH, with a hint. */
bool fs_read_all(const char *path, Arena *arena, char **text, size_t *len, Err *err);

/* fs_read_all, except that a symbolic link is followed -- to a regular file
 * only (policy files may be links into a shared folder). */
bool fs_read_regular(const char *path, Arena *arena, char **text, size_t *len, Err *err);

/* True when PATH names anything at all (a dangling link included); never
 * opens it. */
bool fs_exists(const char *path);

/* Write DATA to PATH through a temporary file, fsync and rename (never a
 * half-written file).  Errors: PM_EDB is wrong here, so PM_EINPUT naming PATH. */
bool fs_write_atomic(const char *path, const char *data, size_t len, Err *err);

/* Names in DIR ending in SUFFIX (e.g. ".sql"), sorted bytewise; owned by ARENA.
 * A missing directory is an empty list when MISSING_OK. */
bool fs_list(const char *dir, const char *suffix, bool missing_ok, Arena *arena, const char ***names, int *n, Err *err);

bool fs_is_dir(const char *path);

/* fsync PATH (a file, or a directory after a rename in it). */
bool fs_sync(const char *path, Err *err);

/* mkdir -p */
bool fs_mkdirs(const char *path, Err *err);

#endif
