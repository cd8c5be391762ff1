/* maintain_sql.h: every query partmig maintain makes of its own (catalog
 * questions catalog.h does not answer, the retention record, and the DDL
 * text it builds).  Values travel as parameters; names through quote.h. */
#ifndef PARTMIG_MAINTAIN_SQL_H
#define PARTMIG_MAINTAIN_SQL_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/arena.h"
#include "../common/buf.h"
#include "../common/err.h"
#include "pg.h"

/* Whether the server is a standby (pg_is_in_recovery()). */
bool msql_in_recovery(PgConn *c, bool *standby, Err *err);

/* A foreign key that references partition SCHEMA.PART or its parent
 * PSCHEMA.PARENT: "\"fk\" on public.lines" (owned by ARENA), "" when none. */
bool msql_fk_reference(PgConn *c, const char *schema, const char *part, const char *pschema, const char *parent,
                       Arena *arena, const char **what, Err *err);

/* Partitions of SCHEMA.TABLE left "detach pending" (a DETACH CONCURRENTLY
 * that did not finish); names owned by ARENA. */
bool msql_detach_pending(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***names, int *n,
                         Err *err);

/* The indexes on SCHEMA.TABLE (owned by ARENA): *CONSTRAINTS[i] is the name
 * of the primary key, unique or exclusion constraint that index NAMES[i]
 * backs (dropped with ALTER TABLE ... DROP CONSTRAINT), "" for a plain index. */
bool msql_indexes(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***names,
                  const char ***constraints, int *n, Err *err);

/* Leaf partitions below the partitioned SCHEMA.TABLE (schemas and names owned by ARENA). */
bool msql_leaves(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***schemas,
                 const char ***names, int *n, Err *err);

/* Tablespace of relation SCHEMA.NAME ("pg_default" when none; "" when it
 * does not exist), owned by ARENA. */
bool msql_tablespace_of(PgConn *c, const char *schema, const char *name, Arena *arena, const char **tablespace,
                        Err *err);

/* Whether tablespace NAME exists. */
bool msql_tablespace_exists(PgConn *c, const char *name, bool *exists, Err *err);

/* Whether SCHEMA.NAME is a partition now (*PARTITION) and exists at all. */
bool msql_relation_state(PgConn *c, const char *schema, const char *name, bool *exists, bool *partition, Err *err);

/* The column list of SCHEMA.TABLE in order, quoted: "\"id\", \"at\"" (owned by ARENA). */
bool msql_column_list(PgConn *c, const char *schema, const char *table, Arena *arena, const char **list, Err *err);

/* Whether SCHEMA.TABLE has a conversion that is not finalized (its old
 * table is still the rollback point); *KEPT names the old table (ARENA). */
bool msql_conversion_open(PgConn *c, const char *schema, const char *table, Arena *arena, bool *open, const char **kept,
                          Err *err);

/* ---- pg_partman ---- */

/* Direct partitions of SCHEMA.TABLE: oid (text), schema, name, and rows --
 * counted when the partition is at most 8 MB, else the planner's estimate
 * (*ESTIMATED[i]) -- all owned by ARENA. */
bool msql_children(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***oids,
                   const char ***schemas, const char ***names, int64_t **rows, bool **estimated, int *n, Err *err);

/* The qualified name of relation OID now, "" when it is gone (ARENA). */
bool msql_relation_name(PgConn *c, const char *oid, Arena *arena, const char **qname, Err *err);

/* partman.run_maintenance() for PARENT ("schema.table") alone, in the
 * caller's transaction.  Without RETENTION its part_config.retention is
 * cleared for the call and put back before the transaction ends: premake
 * runs, retention does not, the settings are unchanged. */
bool msql_partman_run(PgConn *c, const char *parent, bool retention, Err *err);

/* ---- the retention record (partmig.retention_log): a partition being
 * removed by retention is recorded before it is detached and marked
 * finished together with its final step, so a run killed in between
 * finishes the job next time, and verify knows the partition was removed on
 * purpose.  The table lives in the ledger's schema. ---- */

/* Create the record table if needed (idempotent; needs schema partmig). */
bool msql_pending_ensure(PgConn *c, Err *err);
/* Whether the record table exists (changes nothing). */
bool msql_pending_exists(PgConn *c, bool *exists, Err *err);
/* Record SCHEMA.NAME of PARENT ("schema.table") with its BOUND text. */
bool msql_pending_add(PgConn *c, const char *parent, const char *schema, const char *name, const char *bound, Err *err);
bool msql_pending_forget(PgConn *c, const char *schema, const char *name, Err *err);
/* Recorded removals of PARENT (owned by ARENA). */
bool msql_pending_list(PgConn *c, const char *parent, Arena *arena, const char ***schemas, const char ***names,
                       const char ***bounds, int *n, Err *err);

/* ---- statement text (no connection) ---- */
/* ALTER TABLE parent DETACH PARTITION part [CONCURRENTLY | FINALIZE]; MODE "", "CONCURRENTLY", "FINALIZE" */
void msql_detach(Buf *b, const char *pschema, const char *parent, const char *schema, const char *part,
                 const char *mode);
void msql_set_schema(Buf *b, const char *schema, const char *table, const char *target);
void msql_set_tablespace(Buf *b, const char *schema, const char *table, const char *tablespace);

#endif
