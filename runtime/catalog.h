/* catalog.h: the runtime's questions to PostgreSQL's catalogs (tables,
 * partitions, bounds, indexes, locks, the server clock) and the few
 * statements it builds itself (partition index DDL, drops).  Every such
 * query lives in catalog.c; the ledger's own in ledger.c. */
#ifndef PARTMIG_CATALOG_H
#define PARTMIG_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/arena.h"
#include "../common/buf.h"
#include "../common/err.h"
#include "pg.h"

/* Session settings every runtime command uses: warnings only (no NOTICE
 * chatter from IF NOT EXISTS), TimeZone UTC (bounds read back the same way
 * every time). */
bool catalog_session_setup(PgConn *c, Err *err);

/* Refuses (PM_EINPUT, naming the first offenders) a schema SCHEMA that
 * partmig would read, write or run code from while any part of it is in
 * the hands of a role the connected role does not trust: the schema itself,
 * any object in it (tables, views, functions, types, operators, ...), the
 * CREATE privilege on it, or a write or TRIGGER privilege on its tables.
 * Trusted: the connected role itself and superusers.  True when the schema
 * does not exist.  WHAT names the schema's use in the message ("the ledger"). */
bool catalog_check_schema_trust(PgConn *c, const char *schema, const char *what, Err *err);

typedef struct TableInfo {
    bool exists;
    char relkind;         /* 'r' plain, 'p' partitioned, other */
    char strategy;        /* partitioned: 'r' range, 'l' list, 'h' hash */
    const char *key;      /* partitioned: key column list "created_at" ("" otherwise) */
    const char *key_type; /* partitioned: format_type of the first key column */
    bool is_partition;    /* the table is itself a partition */
} TableInfo;

/* What SCHEMA.TABLE is (owned by ARENA). */
bool catalog_table_info(PgConn *c, const char *schema, const char *table, Arena *arena, TableInfo *out, Err *err);

/* Type of COLUMN of SCHEMA.TABLE ("" when absent). */
bool catalog_column_type(PgConn *c, const char *schema, const char *table, const char *column, Arena *arena,
                         const char **type, Err *err);

typedef struct PartInfo {
    const char *schema, *name;
    const char *bound; /* pg_get_expr(relpartbound) */
    bool is_default;
    const char *from, *to;  /* range bounds as text (unquoted), "" otherwise */
    char relkind;           /* 'r' or 'p' (sub-partitioned) */
    double reltuples;       /* -1 when never analyzed */
    int64_t bytes;          /* pg_total_relation_size */
    const char *tablespace; /* "pg_default" when none */
} PartInfo;

/* Direct partitions of SCHEMA.TABLE, range ones ordered by lower bound. */
bool catalog_partitions(PgConn *c, const char *schema, const char *table, Arena *arena, PartInfo **out, int *n,
                        Err *err);

/* The first existing range partition of SCHEMA.TABLE that overlaps [LO, HI)
 * ("" when none), owned by ARENA.  KEY_TYPE is the partition key's
 * format_type; LO and HI are wall-clock "YYYY-MM-DD HH:00:00" in zone TZ for
 * time keys, integer text for integer keys; MINVALUE/MAXVALUE bounds count. */
bool catalog_range_overlap(PgConn *c, const char *schema, const char *table, const char *key_type, const char *tz,
                           const char *lo, const char *hi, Arena *arena, const char **overlapping, Err *err);

/* Bound of one partition ("" when it is not a partition or absent). */
bool catalog_partition_bound(PgConn *c, const char *schema, const char *name, Arena *arena, const char **bound,
                             Err *err);

/* Whether a relation SCHEMA.NAME exists. */
bool catalog_relation_exists(PgConn *c, const char *schema, const char *name, bool *exists, Err *err);

/* Whether SCHEMA.NAME holds no row (reads one row at most). */
bool catalog_relation_empty(PgConn *c, const char *schema, const char *name, bool *empty, Err *err);

/* Exact row count of SCHEMA.NAME. */
bool catalog_count_rows(PgConn *c, const char *schema, const char *name, int64_t *count, Err *err);

/* Rows of SCHEMA.NAME with LO <= COLUMN < HI (LO/HI text parameters, typed
 * by the column, e.g. "2024-01-01 00:00:00 UTC" or "1000"). */
bool catalog_count_range(PgConn *c, const char *schema, const char *name, const char *column, const char *lo,
                         const char *hi, int64_t *count, Err *err);

/* The server's wall clock in zone TZ: "YYYY-MM-DD HH24" (owned by ARENA).
 * Errors (unknown zone): PM_EDB with the server's message. */
bool catalog_now_in_zone(PgConn *c, const char *tz, Arena *arena, const char **now, Err *err);

/* Smallest and largest COLUMN of SCHEMA.TABLE: time keys as wall-clock
 * "YYYY-MM-DD HH24" in TZ, integers as text; "" when the table is empty. */
bool catalog_key_range(PgConn *c, const char *schema, const char *table, const char *column, const char *tz,
                       bool integer_key, Arena *arena, const char **min, const char **max, Err *err);

typedef struct IndexInfo {
    bool exists;
    bool valid;
    bool partitioned; /* an index on a partitioned table */
    bool unique;
    const char *table;  /* table it is on, "" when absent */
    const char *using;  /* pg_get_indexdef from "USING ..." on: "btree (tenant_id)" */
    const char *parent; /* the index it is attached to, "" when none */
} IndexInfo;

/* About index SCHEMA.NAME (owned by ARENA). */
bool catalog_index_info(PgConn *c, const char *schema, const char *name, Arena *arena, IndexInfo *out, Err *err);

/* For partition SCHEMA.PART: the index attached to PARENT_SCHEMA.PARENT_INDEX
 * (its name, or "" when none) and whether it is valid. */
bool catalog_attached_index(PgConn *c, const char *schema, const char *part, const char *parent_schema,
                            const char *parent_index, Arena *arena, const char **name, bool *valid, Err *err);

/* Sessions holding (or waiting for) locks on SCHEMA.TABLE or its partitions,
 * other than C's: "pid 42 holds AccessShareLock on public.t (application
 * \"psql\", state idle in transaction since ..., query ...)"; "" when none. */
bool catalog_lock_holders(PgConn *c, const char *schema, const char *table, Arena *arena, const char **who, Err *err);

/* A time partition bound BOUND (PartInfo from/to text) of a key of type
 * KEY_TYPE as wall-clock "YYYY-MM-DD HH24:00:00" in zone TZ (owned by ARENA). */
bool catalog_bound_wall(PgConn *c, const char *key_type, const char *bound, const char *tz, Arena *arena,
                        const char **wall, Err *err);

/* Compare a time partition bound BOUND (as catalog_partitions gives it, of
 * key type KEY_TYPE) with wall-clock time WALL in zone TZ: *CMP is -1, 0, 1. */
bool catalog_compare_bound(PgConn *c, const char *key_type, const char *bound, const char *wall, const char *tz,
                           int *cmp, Err *err);

/* PostgreSQL's own text for partition bound BOUND_SQL ("FOR VALUES ...")
 * of a partition of SCHEMA.PARENT: made on a scratch temporary copy of the
 * parent inside a transaction that is rolled back (changes nothing). */
bool catalog_normalize_bound(PgConn *c, const char *schema, const char *parent, const char *bound_sql, Arena *arena,
                             const char **normalized, Err *err);

/* Statements the runtime builds itself (text only; no connection).  Names
 * are always quoted; USING is pg_get_indexdef's tail ("btree (tenant_id)"). */
void catalog_sql_create_index(Buf *b, bool unique, bool concurrently, const char *index, bool only, const char *schema,
                              const char *table, const char *using);
void catalog_sql_attach_index(Buf *b, const char *parent_schema, const char *parent_index, const char *schema,
                              const char *index);
void catalog_sql_drop_index(Buf *b, bool concurrently, const char *schema, const char *index);
void catalog_sql_drop_table(Buf *b, const char *schema, const char *table);

/* ---- SQL that depends on the partition key's type ----
 * Every statement partmig builds around a partition key's values asks
 * here, so that each supported type is handled in one place.  Time keys
 * are read as wall-clock time in the policy's zone (a timestamptz is
 * converted, a timestamp or date is taken as it is); the zone goes into the
 * SQL as a quoted literal, so no statement's parameters depend on the
 * type. */
typedef enum KeyKind {
    KEY_UNSUPPORTED,
    KEY_TIMESTAMPTZ,
    KEY_TIMESTAMP,
    KEY_DATE,
    KEY_INTEGER, /* smallint, integer, bigint */
    KEY_TEXT,    /* text, varchar, char */
    KEY_OTHER    /* any other type (hash partitions take any hashable type) */
} KeyKind;

typedef struct KeyType {
    KeyKind kind;
    const char *zone; /* the policy's zone, for time keys */
} KeyType;

/* The kind of a key whose column has base type TYPNAME (pg_type.typname,
 * domains resolved: "timestamptz", "date", "int8", "varchar", ...). */
KeyType catalog_key_type(const char *typname, const char *zone);
bool catalog_key_is_time(const KeyType *k);
/* EXPR as wall-clock timestamp (time keys) or as it is (others). */
const char *catalog_key_wall_sql(Arena *a, const KeyType *k, const char *expr);
/* The text partmig's bound arithmetic reads back for EXPR's value: time
 * keys "YYYY-MM-DD HH24:00:00" (the hour, wall clock), others EXPR::text. */
const char *catalog_key_text_sql(Arena *a, const KeyType *k, const char *expr);
/* SQL turning text expression TEXT (wall time, or an integer) into a value
 * comparable with the key: a timestamptz at that wall time in the zone, a
 * timestamp, a bigint, or TEXT itself. */
const char *catalog_key_from_text_sql(Arena *a, const KeyType *k, const char *text);
/* EXPR >= LO AND EXPR < HI, with LO and HI text expressions as above. */
const char *catalog_key_in_range_sql(Arena *a, const KeyType *k, const char *expr, const char *lo, const char *hi);

/* ---- status: every managed table at once ----
 * `partmig status` reads all tables and all their partitions in a fixed
 * number of queries, whatever the partition count. */
typedef struct CatalogTable {
    const char *schema, *table, *zone; /* in: the table and its policy's zone ("UTC" when none) */
    TableInfo info;                    /* out */
    const char *now_wall;              /* out: server clock in ZONE, "YYYY-MM-DD HH24:MI:SS" */
    double now_epoch;                  /* out: server clock, unix seconds */
} CatalogTable;

/* Fill the out fields of T[0..N-1] in one query (strings owned by ARENA). */
bool catalog_tables_status(PgConn *c, CatalogTable *t, int n, Arena *arena, Err *err);

typedef struct PartStatus {
    int table; /* index into the CatalogTable array */
    PartInfo part;
    int64_t heap_bytes;              /* pg_relation_size: 0 means no row */
    const char *from_wall, *to_wall; /* time keys: the bounds as wall clock in the table's zone,
                                      * "YYYY-MM-DD HH24:MI:SS"; "" otherwise and for MINVALUE/MAXVALUE */
    bool has_from_epoch, has_to_epoch;
    double from_epoch, to_epoch; /* time keys: the bounds as unix seconds */
} PartStatus;

/* Direct partitions of every table of T[0..N-1] in one query, by table,
 * then ordered as catalog_partitions orders them (owned by ARENA). */
bool catalog_partitions_status(PgConn *c, const CatalogTable *t, int n, Arena *arena, PartStatus **out, int *nout,
                               Err *err);

/* Exact row counts of SCHEMAS[i].NAMES[i], i < N, a few hundred per query. */
bool catalog_count_many(PgConn *c, const char *const *schemas, const char *const *names, int n, int64_t *counts,
                        Err *err);

/* What partition SCHEMA.PART of SCHEMA.TABLE, just created (in the
 * caller's transaction), takes from its table, since PostgreSQL does not
 * carry it to new partitions: the table's grants (table and column
 * privileges) and owner (when the connected role may give it), and the
 * storage parameters (reloptions) and replica identity of the table's most
 * recently created other partition (not DEFAULT) -- a partitioned table
 * holds no storage parameters itself; a replica identity set on the table
 * wins.  Runs the statements; *CARRIED gets them ("" when nothing to carry),
 * owned by ARENA. */
bool catalog_partition_carry(PgConn *c, const char *schema, const char *table, const char *part, Arena *arena,
                             const char **carried, Err *err);

/* Whether this role can CREATE EXTENSION NAME: *STATE "installed" (it is
 * already), "superuser", "trusted" (the extension is), or "refused: ROLE"
 * (owned by ARENA). */
bool catalog_extension_state(PgConn *c, const char *name, Arena *arena, const char **state, Err *err);

/* ---- partmig maintain's questions (catalog_maintain.c) ---- */

/* Whether the server is a standby (pg_is_in_recovery()). */
bool catalog_in_recovery(PgConn *c, bool *standby, Err *err);

/* A foreign key that references partition SCHEMA.PART or its parent
 * PSCHEMA.PARENT: "\"fk\" on public.lines" (owned by ARENA), "" when none. */
bool catalog_fk_reference(PgConn *c, const char *schema, const char *part, const char *pschema, const char *parent,
                          Arena *arena, const char **what, Err *err);

/* Partitions of SCHEMA.TABLE left "detach pending" (a DETACH CONCURRENTLY
 * that did not finish); names owned by ARENA. */
bool catalog_detach_pending(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***names, int *n,
                            Err *err);

/* The indexes on SCHEMA.TABLE (owned by ARENA): *CONSTRAINTS[i] is the name
 * of the primary key, unique or exclusion constraint that index NAMES[i]
 * backs (dropped with ALTER TABLE ... DROP CONSTRAINT), "" for a plain index. */
bool catalog_indexes(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***names,
                     const char ***constraints, int *n, Err *err);

/* Leaf partitions below the partitioned SCHEMA.TABLE (schemas and names owned by ARENA). */
bool catalog_leaves(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***schemas,
                    const char ***names, int *n, Err *err);

/* Tablespace of relation SCHEMA.NAME ("pg_default" when none; "" when it
 * does not exist), owned by ARENA. */
bool catalog_tablespace_of(PgConn *c, const char *schema, const char *name, Arena *arena, const char **tablespace,
                           Err *err);

/* Whether tablespace NAME exists. */
bool catalog_tablespace_exists(PgConn *c, const char *name, bool *exists, Err *err);

/* Whether SCHEMA.NAME is a partition now (*PARTITION) and exists at all. */
bool catalog_relation_state(PgConn *c, const char *schema, const char *name, bool *exists, bool *partition, Err *err);

/* The column list of SCHEMA.TABLE in order, quoted: "\"id\", \"at\"" (owned by ARENA). */
bool catalog_column_list(PgConn *c, const char *schema, const char *table, Arena *arena, const char **list, Err *err);

/* Direct partitions of SCHEMA.TABLE: oid (text), schema, name, and rows --
 * counted when the partition is at most 8 MB, else the planner's estimate
 * (*ESTIMATED[i]) -- all owned by ARENA. */
bool catalog_children_rows(PgConn *c, const char *schema, const char *table, Arena *arena, const char ***oids,
                           const char ***schemas, const char ***names, int64_t **rows, bool **estimated, int *n,
                           Err *err);

/* The qualified name of relation OID now, "" when it is gone (ARENA). */
bool catalog_relation_name(PgConn *c, const char *oid, Arena *arena, const char **qname, Err *err);

/* ---- statement text for maintain (catalog_sql.c, no connection) ---- */

/* ALTER TABLE parent DETACH PARTITION part [CONCURRENTLY | FINALIZE]; MODE "", "CONCURRENTLY", "FINALIZE" */
void catalog_sql_detach(Buf *b, const char *pschema, const char *parent, const char *schema, const char *part,
                        const char *mode);
/* ALTER TABLE schema.table SET SCHEMA target */
void catalog_sql_set_schema(Buf *b, const char *schema, const char *table, const char *target);
/* ALTER TABLE schema.table SET TABLESPACE tablespace */
void catalog_sql_set_tablespace(Buf *b, const char *schema, const char *table, const char *tablespace);

#endif
