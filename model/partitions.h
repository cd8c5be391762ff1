/* partitions.h: a policy's partition layout -- bounds, names and the DDL that
 * creates them.  Shared by the compiler (partitions known at compile time)
 * and the runtime (premake at apply time, partitions covering existing data
 * when converting a table). */
#ifndef PARTMIG_PARTITIONS_H
#define PARTMIG_PARTITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/arena.h"
#include "../common/buf.h"
#include "../common/err.h"
#include "interval.h"
#include "policy.h"

typedef struct PartitionSpec {
    const char *name;             /* unqualified partition name (from the naming template, <= 63 bytes) */
    const char *bound_sql;        /* "FOR VALUES FROM (...) TO (...)", "FOR VALUES IN (...)",
                                     "FOR VALUES WITH (MODULUS m, REMAINDER r)" or "DEFAULT" */
    WallTime lower, upper;        /* range by time */
    int64_t lower_int, upper_int; /* range by integer */
} PartitionSpec;

/* The most tables one policy may create, partitions and subpartitions
 * counted alike: every one is a relation PostgreSQL plans, locks and
 * vacuums, and its CREATE statement is a line of a migration file (about 13
 * MB at the cap).  The same number that bounded range partitions before
 * subpartitions were counted, so only layouts that multiply past it (hash
 * 1024 x subpartition hash 1024 is a million tables) are refused. */
#define PARTITIONS_MAX 100000

/* Tables one partition of P amounts to: 1, plus its subpartitions. */
int partition_relations_each(const Policy *p);

/* True when NPARTITIONS partitions of P (each with its subpartitions) stay
 * within PARTITIONS_MAX; else PM_EINPUT saying how many, with a hint. */
bool partitions_within_cap(const Policy *p, int64_t npartitions, Err *err);

/* Range policies: the partitions covering [FROM, TO), FROM floored to the
 * interval (anchored on the policy's start), TO rounded up.  FROM/TO are
 * wall-clock text in the policy's timezone ("YYYY-MM-DD[ HH]") for time
 * keys, or integer text for integer keys.  Errors, PM_EINPUT: bad text, a
 * bound outside bigint or past years 1..9999 (checked, never wrapped), more
 * than PARTITIONS_MAX tables with subpartitions counted. */
bool partitions_range(const Policy *p, const char *from, const char *to, Arena *arena, PartitionSpec **out, int *n,
                      Err *err);

/* Hash and list policies: every partition (plus DEFAULT when the policy has
 * one).  Range policies: only the DEFAULT partition, if any. */
void partitions_fixed(const Policy *p, Arena *arena, PartitionSpec **out, int *n);

/* Appends "CREATE TABLE IF NOT EXISTS <schema>.<ps->name> PARTITION OF
 * <schema>.<parent> <bound>" (+ "PARTITION BY ..." and the subpartitions'
 * CREATE statements when the policy subpartitions), each statement ending
 * in ";\n".  PARENT is the table the partitions hang off (the policy's table,
 * or the shadow table during a conversion). */
void partition_create_sql(Buf *b, const Policy *p, const char *parent, const PartitionSpec *ps);

/* The bound literal for a time boundary: '2024-01-01 00:00:00 UTC' (zone
 * name appended so PostgreSQL resolves it whatever the session's TimeZone);
 * '2024-01-01' for a date key (partition_key_is_date) at midnight, as the
 * key type shows it. */
void partition_bound_literal(Buf *b, const Policy *p, WallTime t);

/* A time boundary as a message shows it: "2024-01-01" for a date key at
 * midnight, else "2024-01-01 00:00:00" (wall clock in the policy's zone). */
void partition_bound_text(Buf *b, const Policy *p, WallTime t);

/* Whether P's partition column is a date: its key_type, else the type the
 * policy's columns give it. */
bool partition_key_is_date(const Policy *p);

/* Longest suffix a subpartition adds to its partition's name ("_7",
 * "_emea"); 0 without subpartitions.  Validation uses it to keep names
 * within 63 bytes. */
size_t partition_subname_suffix_max(const Policy *p);

#endif
