/* init.h: the catalog reads of `partmig init` (defined in catalog_init.c,
 * with the runtime's other catalog queries).  Each returns a result to free with
 * pg_result_free; values travel as parameters. */
#ifndef PARTMIG_INIT_H
#define PARTMIG_INIT_H

#include <stdbool.h>

#include "../common/err.h"
#include "pg.h"

/* SCHEMA.TABLE: (oid, relkind); no row when it does not exist. */
bool catalog_init_relation(PgConn *c, const char *schema, const char *table, PgResult **res, Err *err);

/* The table OID's columns in order: (name, type as format_type prints it,
 * not null, "time" | "integer" | "" for the key kinds partmig converts, the
 * name of a valid index the column leads or NULL, in the primary key). */
bool catalog_init_columns(PgConn *c, const char *oid, PgResult **res, Err *err);

/* The primary key's columns of the table OID, in key order (no row: none). */
bool catalog_init_primary_key(PgConn *c, const char *oid, PgResult **res, Err *err);

/* The valid indexes of the table OID other than the primary key: (name,
 * unique, access method, plain: on columns only, no predicate or INCLUDE,
 * columns "a,b"). */
bool catalog_init_indexes(PgConn *c, const char *oid, PgResult **res, Err *err);

/* One row over the whole table: (rows, rows where COLUMN is NULL, min and
 * max as text, span: days from min to max when IS_TIME, else max - min + 1).
 * Reads every row (or the index COLUMN leads). */
bool catalog_init_column_stats(PgConn *c, const char *schema, const char *table, const char *column, bool is_time,
                               PgResult **res, Err *err);

#endif
