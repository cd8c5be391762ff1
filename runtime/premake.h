/* premake.h: the premake window -- which partitions must exist for a policy
 * now -- shared by apply's premake step and partmig maintain. */
#ifndef PARTMIG_PREMAKE_H
#define PARTMIG_PREMAKE_H

#include <stdbool.h>

#include "../common/arena.h"
#include "../common/err.h"
#include "../model/partitions.h"
#include "../model/policy.h"
#include "catalog.h"
#include "pg.h"

/* Apply's premake: every partition P wants now, existing ones included.
 * Range policies cover [FROM, TO): FROM is the policy's start, else the
 * smallest key in the table, else now; TO is the clock horizon
 * (premake_horizon) or past the largest key, whichever is later.  Time
 * windows are wall clock in the policy's timezone from the server clock.
 * Hash/list partitions and DEFAULT (when the policy has one) follow the
 * range ones.  TI says whether the table exists (its data is read only then).
 * *SPECS, *FROM, *TO are owned by ARENA; FROM/TO are "" for hash/list.
 * Errors: PM_EDB (server), PM_EINPUT (a window too large). */
bool premake_layout(PgConn *c, const Policy *p, const TableInfo *ti, Arena *arena, PartitionSpec **specs, int *n,
                    const char **from, const char **to, Err *err);

/* Maintain's premake, by the clock: range policies with time keys cover
 * [now, horizon) -- the same horizon as premake_layout, without looking at
 * the data (no full scan every night); integer keys cover [largest key,
 * largest key + premake steps), as apply does.  Hash/list and DEFAULT as in
 * premake_layout.  Ownership and errors as premake_layout. */
bool premake_ahead(PgConn *c, const Policy *p, const TableInfo *ti, Arena *arena, PartitionSpec **specs, int *n,
                   const char **from, const char **to, Err *err);

/* The clock horizon of a time-keyed range policy: now (server clock in the
 * policy's timezone, "YYYY-MM-DD HH") plus premake intervals (at least one
 * hour ahead).  *NOW and *HORIZON are "YYYY-MM-DD HH:00:00" text owned by
 * ARENA. */
bool premake_horizon(PgConn *c, const Policy *p, Arena *arena, const char **now, const char **horizon, Err *err);

/* Whether SPEC already exists among PARTS: same name, or both DEFAULT. */
bool premake_spec_present(const PartitionSpec *spec, const PartInfo *parts, int nparts);

/* A range SPEC's bounds as text parameters for catalog_range_overlap:
 * wall-clock "YYYY-MM-DD HH:MM:SS" (the zone is the policy's) or integers.
 * False when SPEC is not a range partition (DEFAULT, list, hash). */
bool premake_range_params(const Policy *p, const PartitionSpec *spec, Arena *arena, const char **lo, const char **hi);

/* Inside a transaction, holding the lock CREATE ... PARTITION OF takes:
 * create SPEC's partition of P's table (IF NOT EXISTS; its partition key
 * has type KEY_TYPE).  When an existing partition covers SPEC's range
 * already (a table attached as the first partition by an attach
 * conversion covers the old range under its own name), nothing is created,
 * *CREATED is false and *OVERLAP names that partition (owned by ARENA);
 * that is not an error.  Any refusal of the server is. */
bool premake_create_in_tx(PgConn *c, const Policy *p, const char *key_type, const PartitionSpec *spec, Arena *arena,
                          bool *created, const char **overlap, Err *err);

/* Rows the DEFAULT partition DEF of P's table holds of list partition
 * SPEC's values (SPEC's bound is "FOR VALUES IN (...)"). */
bool premake_list_default_rows(PgConn *c, const Policy *p, const PartInfo *def, const PartitionSpec *spec,
                               int64_t *rows, Err *err);

/* Inside a transaction that holds ACCESS EXCLUSIVE on P's table (no writer
 * can add rows of SPEC's values meanwhile): lock DEFAULT, count its rows of
 * SPEC's values, create SPEC's partition standalone, move those rows into
 * it (DELETE ... RETURNING), check the moved count against the count, and
 * attach it.  *MOVED: rows moved.  PostgreSQL refuses to create a list
 * partition while DEFAULT holds rows of its values; this is the way
 * around.  Errors: PM_EDB; PM_EINPUT for a subpartitioned policy (move by
 * hand). */
bool premake_list_move_in_tx(PgConn *c, const Policy *p, const PartInfo *def, const PartitionSpec *spec, Arena *arena,
                             int64_t *moved, Err *err);

/* Inside a transaction: lock P's table, then detach and drop its DEFAULT
 * partition DEF when it holds no row; PM_EINPUT saying how many when it
 * does. */
bool premake_drop_default_in_tx(PgConn *c, const Policy *p, const PartInfo *def, Err *err);

#endif
