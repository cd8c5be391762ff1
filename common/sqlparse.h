/* sqlparse.h: SQL text -> statements with their lines and parse trees, through
 * PostgreSQL's own parser (libpg_query).  sqlparse.c is the only file that
 * includes pg_query.h; callers read the trees (jansson JSON) it hands out. */
#ifndef PARTMIG_SQLPARSE_H
#define PARTMIG_SQLPARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* One statement of a script. */
typedef struct SqlStatement {
    const char *text; /* the statement without leading blanks/comments or the
                         trailing ';', NUL-terminated; owned by the script */
    size_t offset;    /* byte offset of TEXT in the parsed SQL */
    int line;         /* line of its first token in the file */
    json_t *tree;     /* the statement node, e.g. {"IndexStmt":{...}}; node
                         "location"s are byte offsets in the parsed SQL;
                         borrowed: owned by the script */
    json_t *plpgsql;  /* a DO block in PL/pgSQL: its PLpgSQL_function node
                         (statement "lineno"s count from 1 at BODY_LINE);
                         NULL otherwise; borrowed: owned by the script */
    int body_line;    /* with PLPGSQL: the line the DO body starts on */
} SqlStatement;

typedef struct SqlScript SqlScript; /* opaque; free with sql_script_free */

/*
 * Parse SQL (any number of statements) that starts at line FIRST_LINE of
 * FILE.  On success *OUT owns every statement.  A syntax error is PM_EINPUT
 * at FILE:line of the error, with the parser's message, and a hint.  The
 * bodies of DO blocks in PL/pgSQL are parsed too and must parse.
 */
bool sql_script_parse(const char *sql, const char *file, int first_line, SqlScript **out, Err *err);
int sql_script_count(const SqlScript *script);
const SqlStatement *sql_script_get(const SqlScript *script, int i);
/* Line in the file of byte OFFSET of the parsed SQL (clamped to its end). */
int sql_script_line(const SqlScript *script, size_t offset);
void sql_script_free(SqlScript *script); /* NULL is fine */

/* A CREATE TABLE ... PARTITION OF statement: the partition and its parent
 * (schema "public" when the name is unqualified); strings borrowed from the
 * statement's tree.  False for any other statement. */
bool sql_partition_of(const SqlStatement *st, const char **schema, const char **name, const char **parent_schema,
                      const char **parent);

/* A CREATE INDEX IF NOT EXISTS statement on a schema-qualified table: the
 * table's schema (where the index goes) and the index name; strings
 * borrowed from the statement's tree.  False for any other statement. */
bool sql_index_if_not_exists(const SqlStatement *st, const char **schema, const char **name);

/* Only check that SQL parses (same errors as sql_script_parse). */
bool sql_parse_check(const char *sql, const char *file, int first_line, Err *err);

/* Free the parser's per-thread memory; call once before exit (optional, keeps
 * leak checkers quiet; the parser re-initialises itself if used again). */
void sql_parse_cleanup(void);

#endif
