/* policy.h: the policy model, as loaded from Lua and as recorded in migration
 * files (policy state JSON).  Every string is owned by the Arena the policy
 * was loaded into. */
#ifndef PARTMIG_POLICY_H
#define PARTMIG_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/arena.h"
#include "../common/buf.h"
#include "../common/err.h"
#include "interval.h"

typedef enum { PART_RANGE = 0, PART_LIST, PART_HASH } PartBy;
typedef enum { EXISTING_COPY = 0, EXISTING_ATTACH, EXISTING_NONE } ExistingMethod;
typedef enum { BACKEND_NATIVE = 0, BACKEND_PG_PARTMAN } Backend;
typedef enum { ARCHIVE_NONE = 0, ARCHIVE_SCHEMA, ARCHIVE_DUMP } ArchiveKind;

typedef struct StrList {
    const char **items;
    int n;
} StrList;

typedef struct IndexSpec {
    const char *name; /* NULL: derived "<table>_<col>_<col>_idx" */
    StrList columns;
    bool unique;
    const char *method; /* "btree" (default), "hash", "gin", "gist", "brin" */
} IndexSpec;

typedef struct ListPartition {
    const char *name; /* partition suffix: "<table>_<name>" */
    StrList values;
} ListPartition;

typedef struct TierRule {
    Interval older_than;
    const char *tablespace;
} TierRule;

typedef struct ColumnDef {
    const char *name;
    const char *type; /* SQL type and column constraints, validated, emitted as is */
} ColumnDef;

typedef struct Retention {
    bool set;
    Interval keep;
    bool keep_table; /* default false */
    bool keep_index; /* default true */
    ArchiveKind archive;
    const char *archive_target; /* schema name or dump directory */
} Retention;

typedef struct Subpartition {
    bool set;
    PartBy by; /* PART_HASH or PART_LIST */
    const char *column;
    int modulus;          /* hash */
    ListPartition *lists; /* list */
    int nlists;
} Subpartition;

typedef struct Existing {
    ExistingMethod method;
    int batch_size; /* default 50000 */
    int jobs;       /* default 1 */
} Existing;

typedef struct Policy {
    const char *source_file; /* as given on the command line */
    int source_line;         /* line of the `partition` call */

    const char *schema; /* default "public" */
    const char *table;
    PartBy by;
    const char *column;
    Interval interval;    /* range only */
    const char *start;    /* range: "YYYY-MM-DD" or integer text; NULL: from the data */
    int premake;          /* default 3 */
    const char *timezone; /* default "UTC" */
    const char *naming;   /* naming template; NULL: naming_default(unit) */
    bool default_partition;
    int modulus;          /* hash */
    ListPartition *lists; /* list */
    int nlists;
    IndexSpec *indexes;
    int nindexes;
    Retention retention;
    TierRule *tiers;
    int ntiers;
    Subpartition subpartition;
    Existing existing;
    Backend backend;
    ColumnDef *columns; /* NULL/0: the table must exist */
    int ncolumns;
    StrList primary_key; /* optional; for existing tables: the new key to apply */
    /* The partition column's type as format_type says it, when the runtime
     * read it from the table ("date", ...); NULL or "": unknown (then the
     * type in columns, if any, is used).  Only for printing bounds; not part
     * of the policy (not in its JSON). */
    const char *key_type;
} Policy;

typedef struct PolicySet {
    Policy *items;
    int n;
    int cap; /* allocated length of items (0 for a set built by hand) */
} PolicySet;

/* Limits on what policies can make partmig do: policies are untrusted input
 * (a pull request may bring them), so nothing they ask for is unbounded.
 * Each is checked where the policy is read and named in the error. */
#define POLICY_MAX_ENTRIES       10000      /* partition entries in one compile, all files together */
#define POLICY_MAX_LISTS         1000       /* list partitions of one table (and of its subpartition) */
#define POLICY_MAX_LIST_VALUES   10000      /* list values of one table, all its lists together */
#define POLICY_MAX_INDEXES       100        /* indexes of one table */
#define POLICY_MAX_INDEX_COLUMNS 32         /* columns of an index or primary key (PostgreSQL's INDEX_MAX_KEYS) */
#define POLICY_MAX_COLUMNS       1600       /* columns of one table (PostgreSQL's MaxHeapAttributeNumber) */
#define POLICY_MAX_TIERS         32         /* tiering rules of one table */
#define POLICY_MAX_STRING        1000       /* bytes of one string */
#define POLICY_MAX_BYTES         (64 << 20) /* bytes copied out of Lua, all policy files of a process together */
#define POLICY_MEMORY_LIMIT      (64 << 20) /* bytes one policy file's Lua state may allocate */
#define POLICY_CPU_SECONDS       10         /* CPU all policy files of a process may use together */

/* Load one policy file into SET (appending) in a fresh Lua sandbox, within
 * the limits above (the CPU and byte budgets are shared by every file the
 * process loads: one compile).  Errors carry FILE:LINE and exit code
 * PM_EINPUT; text from the policy in them has its control characters
 * escaped. */
bool policy_load_file(const char *path, Arena *arena, PolicySet *set, Err *err);

/* Validate every policy (identifiers, intervals, dates, combinations) and
 * that no two name the same table.  Errors carry the policy's file:line. */
bool policy_validate(PolicySet *set, Err *err);

/* Canonical JSON of a policy (sorted keys, no source location): the policy
 * state recorded in migration files and registered in the ledger.  Two
 * policies are the same exactly when their canonical JSON is equal.
 * Returns a string owned by ARENA. */
const char *policy_to_json(const Policy *p, Arena *arena);

/* Parse canonical JSON back (what the runtime and incremental compile read). */
bool policy_from_json(const char *json, Arena *arena, Policy *out, Err *err);

/* "schema.table" (unquoted, for messages and ledger keys); owned by ARENA. */
const char *policy_qualified_name(const Policy *p, Arena *arena);

/* The index's name: its own, or "<table>_<col>..._idx" ("_key" when unique);
 * owned by ARENA (or by the policy). */
const char *policy_index_name(const IndexSpec *ix, const Policy *p, Arena *arena);

/* The policy's naming template: its own or naming_default() for its unit
 * (hash: "{table}_{N}" with N the remainder). */
const char *policy_naming(const Policy *p);

/* The top-level canonical-JSON keys whose values differ between A and B, as
 * "column, interval" (sorted), or "" when they are the same; owned by ARENA. */
const char *policy_changed_keys(const Policy *a, const Policy *b, Arena *arena);

/* The canonical-JSON keys whose change needs a new table even before
 * anything exists ("backend, by, column, interval, modulus, subpartition"),
 * the keys that shape the partitions but that a new version can carry as a
 * relayout of the table (start, timezone, naming, default_partition,
 * values, columns, primary_key, existing), and the rest (premake, indexes,
 * retention, tiering), each NULL-terminated. */
extern const char *const policy_keys_new_table[];
extern const char *const policy_keys_relayout[];

/* The keys of KEYS (NULL-terminated) whose values differ between A and B,
 * as "column, interval" in KEYS' order, "" when none; owned by ARENA. */
const char *policy_changed_among(const Policy *a, const Policy *b, const char *const *keys, Arena *arena);

/* Fill P with the defaults a policy starts from (schema "public", premake 3,
 * timezone "UTC", keep_index, existing copy/50000/1, native backend). */
void policy_defaults(Policy *p);

#endif
