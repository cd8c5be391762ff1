/* maintain_dump.h: retention's "dump:DIR" archive -- pg_dump of one detached
 * partition into a file partmig creates itself, checked, then moved into place. */
#ifndef PARTMIG_MAINTAIN_DUMP_H
#define PARTMIG_MAINTAIN_DUMP_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/err.h"

/* NAME may be part of a dump file's name: not empty, no '/', no "..", no
 * control characters. */
bool dump_name_ok(const char *name);

/* DIR may name a dump directory: not empty, no ".." component, no control
 * characters.  Absolute and relative (to the working directory) both are. */
bool dump_dir_ok(const char *dir);

/* Whether partition SCHEMA.TABLE can be archived into DIR, before anything
 * is changed: the names (dump_name_ok) and, when DIR exists, DIR itself (a
 * real directory, not a symbolic link, owned by the running user or root,
 * not writable by group or others).  Failure: PM_EDB, the names shown with
 * control characters escaped. */
bool dump_check_target(const char *dir, const char *schema, const char *table, Err *err);

/* pg_dump's command line for SCHEMA.TABLE: ARGV (NULL-terminated; argv[0]
 * is $PARTMIG_PG_DUMP, else "pg_dump" from PATH) and the password, which
 * goes to pg_dump's environment (PGPASSWORD) only.  The connection settings
 * are DB_URL's (else PARTMIG_DATABASE_URL's; neither: libpq's PG*
 * environment), parsed by pg_conn_params and given to pg_dump as a conninfo
 * string without the password.  Free with dump_command_free. */
typedef struct DumpCommand {
    char **argv;
    char *password; /* "" when none */
} DumpCommand;
bool dump_command(const char *db_url, const char *schema, const char *table, DumpCommand *cmd, Err *err);
void dump_command_free(DumpCommand *cmd);

/* Number of data rows in the one COPY block of the dump read from FD, from
 * its start (SHOWN names it in messages).  No COPY block, an unterminated
 * one, or more than one: PM_EDB. */
bool dump_count_rows(int fd, const char *shown, int64_t *rows, Err *err);

/* A dump being written: DIR/SCHEMA.TABLE.sql.partial, created by partmig. */
typedef struct DumpArchive DumpArchive;

/* Dump SCHEMA.TABLE into DIR (created 0700 when missing; refused as in
 * dump_check_target): the file SCHEMA.TABLE.sql.partial is created with
 * O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, relative to the directory opened
 * once; pg_dump writes it through its standard output, the rows are counted
 * by reading the same descriptor and must equal ROWS, then it is fsync'ed.
 * An existing SCHEMA.TABLE.sql or .partial (a symbolic link included) is
 * refused and left alone.  On success *OUT is ready for
 * dump_archive_publish; on failure nothing is left behind. */
bool dump_archive_write(const char *db_url, const char *dir, const char *schema, const char *table, int64_t rows,
                        DumpArchive **out, Err *err);

/* Rename the .partial to SCHEMA.TABLE.sql, never replacing a file of that
 * name, and fsync the directory. */
bool dump_archive_publish(DumpArchive *d, Err *err);

/* The final path, DIR/SCHEMA.TABLE.sql (owned by D). */
const char *dump_archive_path(const DumpArchive *d);

/* Remove the .partial if it was not published, close, free.  NULL is fine. */
void dump_archive_close(DumpArchive *d);

#endif
