/* maintain_dump.h: retention's "dump:DIR" archive -- pg_dump of one detached
 * partition to a plain SQL file, and the check that the file holds its rows. */
#ifndef PARTMIG_MAINTAIN_DUMP_H
#define PARTMIG_MAINTAIN_DUMP_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/err.h"

/* Run pg_dump (execvp, no shell; $PARTMIG_PG_DUMP or "pg_dump" from PATH)
 * for table SCHEMA.TABLE in plain format into PATH.  The connection is
 * DB_URL, else PARTMIG_DATABASE_URL, else libpq's PG* environment; a
 * password in the URL is taken out of it and given to pg_dump through its
 * environment (PGPASSWORD) only, never on a command line or in a message.
 * Failure (cannot start, non-zero exit, signal): PM_EDB. */
bool dump_table(const char *db_url, const char *schema, const char *table, const char *path, Err *err);

/* Number of data rows in the dump file PATH's one COPY block.  A file with
 * no COPY block, an unterminated one, or more than one: PM_EDB. */
bool dump_count_rows(const char *path, int64_t *rows, Err *err);

/* URL without its password (URI "user:secret@" or "password=" parameter,
 * or a key/value "password=" setting); *PASSWORD gets the password ("" when
 * none).  Both are malloc'ed; the caller frees them. */
void dump_split_password(const char *url, char **without, char **password);

#endif
