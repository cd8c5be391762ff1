/* pg.h: partmig's PostgreSQL client.  runtime/pg.c is the only file that
 * includes libpq-fe.h; everything else talks through this interface.
 * Values always travel as parameters (text format), never spliced into SQL. */
#ifndef PARTMIG_PG_H
#define PARTMIG_PG_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/arena.h"
#include "../common/err.h"

typedef struct PgConn PgConn;     /* owns a PGconn */
typedef struct PgResult PgResult; /* owns a PGresult */

/* Connect with PQconnectdbParams (expand_dbname for URL, fallback_application_name
 * "partmig"), URL NULL: PARTMIG_DATABASE_URL, else libpq's PG* environment.
 * Sets search_path = pg_catalog right after connecting.  Error messages never
 * contain the password.  Failure: PM_EDB. */
PgConn *pg_connect(const char *url, Err *err);
void pg_close(PgConn *c);

/* The connection settings of URL, for a program partmig starts (pg_dump). */
typedef struct PgConnParams {
    int n;
    char **keys, **vals; /* the settings URL gives, the password left out */
    char *password;      /* "" when URL gives none */
} PgConnParams;

/* Parse URL as pg_connect would (NULL or "": PARTMIG_DATABASE_URL; neither:
 * no settings, libpq's PG* environment applies) with PQconninfoParse: URI
 * or key=value form, percent-encoding decoded, a bare name is the dbname.
 * *OUT owns malloc'ed copies; free with pg_conn_params_free.  A URL that
 * does not parse: PM_EINPUT, the URL not quoted (it may hold a password). */
bool pg_conn_params(const char *url, PgConnParams *out, Err *err);
void pg_conn_params_free(PgConnParams *p);

/* What pg_exec puts before every statement: partmig's own queries are told
 * from the application's where the server keeps their text
 * (pg_stat_statements, pg_stat_activity, the server log). */
#define PG_QUERY_MARK "/* partmig */ "

/* Run SQL with text parameters (NULL entries are SQL NULL).  On success
 * *RES (if RES is not NULL) receives the result, to be freed with
 * pg_result_free.  On failure: PM_EDB with the server message, and the
 * SQLSTATE available via pg_last_sqlstate. */
bool pg_exec(PgConn *c, const char *sql, int nparams, const char *const *params, PgResult **res, Err *err);
/* pg_exec for SQL without parameters and without a result to read. */
bool pg_run(PgConn *c, const char *sql, Err *err);
/* Run a script of one or more statements (simple query protocol, no
 * parameters): the migration steps' own SQL.  Several statements sent at once
 * run in one implicit transaction, so CONCURRENTLY statements must be sent
 * one per call.  Errors as pg_exec. */
bool pg_exec_script(PgConn *c, const char *sql, Err *err);
/* Server process id of C (pg_backend_pid() without a round trip). */
int pg_backend_pid(const PgConn *c);

/* The first column of the first row as text, copied into ARENA; "" when the
 * query returns no row or NULL. */
bool pg_query_text(PgConn *c, const char *sql, int nparams, const char *const *params, Arena *arena, const char **value,
                   Err *err);
/* The first column of the first row is boolean true (false when no row). */
bool pg_query_bool(PgConn *c, const char *sql, int nparams, const char *const *params, bool *value, Err *err);

/* SQLSTATE of the last failed pg_exec on C ("" if none), e.g. "55P03". */
const char *pg_last_sqlstate(const PgConn *c);

int pg_nrows(const PgResult *r);
int pg_ncols(const PgResult *r);
/* Value as text; "" for NULL (check pg_isnull).  Owned by R. */
const char *pg_get(const PgResult *r, int row, int col);
bool pg_isnull(const PgResult *r, int row, int col);
int64_t pg_get_int(const PgResult *r, int row, int col);
/* Column COL of every row of R copied into ARENA: pg_nrows(R) strings and a
 * NULL after them ("" for a NULL value).  Outlives R. */
const char **pg_column_strings(const PgResult *r, int col, Arena *arena);
void pg_result_free(PgResult *r);

/* Server major version number (e.g. 150000 for 15.0). */
int pg_server_version(const PgConn *c);
/* True while in a transaction block. */
bool pg_in_transaction(const PgConn *c);
/* Ask the server to cancel the current query of C (from another thread). */
void pg_cancel(PgConn *c);
/* Connection is usable. */
bool pg_ok(const PgConn *c);

/* Rows the command of R reported in its tag (PQcmdTuples: INSERT, UPDATE,
 * DELETE, ...); -1 when the tag carries no count. */
int64_t pg_cmd_tuples(const PgResult *r);

#endif
