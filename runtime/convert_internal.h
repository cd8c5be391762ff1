/* convert_internal.h: what the conversion's files share (convert*.c,
 * preflight.c, copier.c, finalize.c) -- the facts pre-flight learns about a
 * table, the conversion's ledger row and context, the batched copier's
 * contract, and each file's entry points.  Not used outside the conversion. */
#ifndef PARTMIG_CONVERT_INTERNAL_H
#define PARTMIG_CONVERT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/arena.h"
#include "../common/buf.h"
#include "../common/err.h"
#include "../model/partitions.h"
#include "../model/policy.h"
#include "catalog.h"
#include "convert.h"
#include "pg.h"

/* Everything pre-flight learned about the existing table.  Strings are
 * owned by the arena given to preflight_gather. */
typedef struct TableFacts {
    bool exists;
    char relkind;      /* 'r' plain, 'p' partitioned, ... */
    const char *oid;   /* pg_class oid as text */
    const char *owner; /* owner role name */
    char replident;    /* relreplident */
    const char **cols; /* insertable columns (not dropped, not generated), in order */
    int ncols;
    const char **key, **key_types; /* the existing primary key (keyset order for the copy) */
    int nkey;
    const char *pkey_index; /* name of the primary key's index, NULL when none */
    const char *key_index;  /* no primary key: the unique index (btree, NOT NULL columns) giving KEY, else NULL */
    bool pk_has_partkey;    /* the existing primary key includes the partition column */
    const char *part_type;  /* format_type of the partition column, NULL when absent */
    KeyType part_key;       /* its kind, for every SQL that depends on it (catalog_key_*) */
    bool part_notnull;
    const char **new_pk; /* primary key of the partitioned table */
    int nnew_pk;
    const char *data_min, *data_max;   /* partition key range: wall time "YYYY-MM-DD HH24" in the
                                          policy's zone, or integer text; NULL when empty */
    const char *now_wall;              /* server clock in the policy's zone, "YYYY-MM-DD HH24" */
    double est_rows;                   /* reltuples (or an exact count when never analyzed) */
    const char **ix_names, **ix_using; /* secondary (non-primary-key) indexes: name and "USING ..." */
    bool *ix_unique;
    bool *ix_policy;      /* the policy declares the same index (its own step builds it) */
    int *ix_policy_index; /* which of the policy's indexes, -1 when none */
    int nix;
    const char **seqs, **seq_cols; /* sequences owned by a column: qualified quoted name, column */
    int nseqs;
    const char **ident_cols; /* identity columns, in column order */
    char *ident_kinds;       /* their attidentity: 'a' ALWAYS, 'd' BY DEFAULT */
    int nident;
    const char **views; /* dependent plain views, qualified quoted names */
    int nviews;
    const char **fk_names, **fk_defs; /* foreign keys from this table (copied to the new one) */
    int nfk;
    bool rls, rls_forced;    /* relrowsecurity, relforcerowsecurity (carried over in the swap) */
    int npolicies;           /* row security policies on the table (carried over in the swap) */
    bool rls_bypassed;       /* the current user reads every row (superuser, BYPASSRLS, or the owner
                                while row security is not forced) */
    const char **reloptions; /* "name=value" storage parameters (set on the new partitions) */
    int nreloptions;
    int ncolacl; /* columns with column-level privileges (carried over in the swap) */
} TableFacts;

/* Read the facts about P's table (no checks, no changes).  F->exists is
 * false when the table is absent. */
bool preflight_gather(PgConn *c, const Policy *p, Arena *a, TableFacts *f, Err *err);

/* The partitions the converted table starts with: range policies cover the
 * data (from `start`, else the data's minimum, aligned to the interval) up
 * to the later of the data's maximum and now, plus premake; hash and list:
 * all of them.  FROM/TO (range only) receive the covered interval text. */
bool preflight_layout(const Policy *p, const TableFacts *f, Arena *a, PartitionSpec **specs, int *n, const char **from,
                      const char **to, Err *err);

/* The conversion's row in partmig.conversions (the active one, or the
 * latest). */
typedef struct ConvRow {
    bool found;
    const char *id;      /* bigint as text */
    const char *state;   /* preflight shadow_created mirroring backfilling verified swapped finalized rolled_back */
    const char *method;  /* copy | attach */
    const char *old_oid; /* the original table's oid */
    const char *shadow;  /* copy: the new table's name until the swap */
    const char *kept;    /* the original table's name after the swap */
    const char *upper;   /* attach: exclusive upper bound of the old table's range */
    const char *lower;   /* attach: lower bound, NULL for MINVALUE */
} ConvRow;

/* One copier job: keys in (lo, hi]; lo NULL: from the first key. */
typedef struct CopyJob {
    int job;
    const char **lo, **hi; /* nkey text values each */
} CopyJob;

/* The batched keyset copy from the old table into the shadow. */
typedef struct CopyPlan {
    const char *db_url;     /* for the jobs' own connections */
    const char *conversion; /* conversion id (text), ledger key */
    const char *src, *dst;  /* quoted qualified tables */
    const char *cols;       /* quoted column list: "a", "b" */
    const char *overriding; /* " OVERRIDING SYSTEM VALUE" when DST has identity columns, else "" */
    const char **key, **key_types;
    int nkey;
    CopyJob *jobs;
    int njobs;
    int batch_size, sleep_ms;
    double est_rows;   /* for the progress bar */
    const char *label; /* progress label: the table */
} CopyPlan;

/* Copy every job's range in keyset batches (jobs in parallel threads, each
 * on its own connection), resuming after the last batch each job recorded
 * in partmig.batches.  Each batch is one REPEATABLE READ transaction that
 * inserts the rows of its key range (the INSERT's command tag gives the
 * copied count), counts the range's source rows on their own in the same
 * snapshot, and records the range and both counts; a mismatch stops the
 * copy with PM_EDB.  The target is checked in full, per partition, before
 * the swap.  Single integer keys take computed batch bounds while the ids
 * are dense, other keys an index lookup per batch.  SQLSTATE receives the
 * failed statement's SQLSTATE ("" when the failure was not the server's). */
bool copier_run(const CopyPlan *plan, char sqlstate[6], Err *err);

/* Split the key range of SRC into up to N jobs at key quantiles (fills
 * JOBS, owned by A; *NJOBS may come out smaller for small tables).  An
 * empty table gives no job. */
bool copier_split(PgConn *c, const CopyPlan *plan, int n, Arena *a, CopyJob **jobs, int *njobs, Err *err);

/* A job's own connection to DB_URL (NULL: as pg_connect), no statement
 * timeout, application_name NAME; NULL on failure. */
PgConn *copier_connect(const char *db_url, const char *name, Err *err);

/* Run SCRIPTS[0..N) (each one or more statements, one transaction) over up
 * to JOBS connections of their own, each taking the next script when done
 * with one; the first failure stops the others after their script. */
bool copier_scripts(const char *db_url, const char *const *scripts, int n, int jobs, Err *err);

/* Helpers shared by the conversion files (defined in sql_text.c; quoted
 * names into an arena are quote_ident_str / quote_qualified_str). */
/* "a", "b" from NAMES (quoted), with PREFIX before each ("o." or ""). */
const char *sql_column_list(Arena *a, const char *const *names, int n, const char *prefix);
/* ($FIRST::type, ...) for a key tuple. */
const char *sql_key_params(Arena *a, const char *const *types, int n, int first);
/* Parse a one-dimensional text[] output ("{a,\"b c\",NULL}") into N values. */
bool sql_parse_text_array(const char *text, Arena *a, const char ***out, int *n);
/* Run SQL in a short transaction under lock_timeout, retried with jittered
 * backoff on lock timeouts and deadlocks (bounded); BODY runs inside. */
typedef bool (*LockedBody)(PgConn *c, void *ctx, Err *err);
bool run_locked(PgConn *c, const char *what, LockedBody body, void *ctx, Err *err);
/* The same for a few partitions' DDL: tries of at most 40 ms, many of them. */
bool run_locked_brief(PgConn *c, const char *what, LockedBody body, void *ctx, Err *err);

/* ---- the conversion context, shared by convert*.c and finalize.c ---- */

typedef struct Conv {
    PgConn *c;
    const Policy *p;
    const ConvertOptions *o;
    Arena *a;
    TableFacts f;
    ConvRow row;
    const char *qname;   /* schema.table for messages */
    const char *q_table; /* "schema"."table" */
    const char *q_shadow, *q_kept;
    const char *q_log, *q_capture, *q_reverse; /* partmig.conv_N_* */
    const char *q_undo; /* partmig.conv_N_undo: keys written since the swap (sql/conversion.sql) */
    /* the functions an older partmig made per conversion instead of
     * sql/conversion.sql's generic ones: dropped (IF EXISTS) with the rest */
    const char *q_resync, *q_guard;
    const char *q_guard_call; /* partmig.conversion_guard('N'): the TRUNCATE trigger's function */
} Conv;

/* An identity sequence as the server names it. */
typedef struct IdentSeq {
    const char *qname;  /* qualified quoted name (the server's regclass text) */
    const char *schema; /* its schema and name, unquoted */
    const char *name;
} IdentSeq;

/* The first lines of every trigger function partmig installs: it acts
 * only as a trigger on the one table (by OID, so renames do not matter) it
 * was made for, or that table's partitions, whoever attaches it elsewhere. */
const char *conv_trigger_guard(Arena *a, const char *oid);

/* Nobody but its owner may call or attach FUNCTION(ARGS): a SECURITY
 * DEFINER trigger function attached to another table would write as
 * partmig's role.  (Triggers fire without an EXECUTE check.) */
void conv_revoke_public(Buf *b, const char *function, const char *args);

/* NAME + SUFFIX cut to PostgreSQL's 63 bytes (the base is shortened). */
const char *conv_name63(Arena *a, const char *base, const char *suffix);

void conv_rollback_quietly(PgConn *c);

/* The swap's longest lock_timeout: --lock-timeout, or 500 ms. */
int conv_lock_ms(const Conv *v);

/* convert_capture.c: the change log, its trigger and re-copy function
 * (state shadow_created -> mirroring); re-copying logged keys until few
 * wait; dropping them after the swap. */
bool conv_install_capture(Conv *v, Err *err);
bool conv_resync_catch_up(Conv *v, Err *err);
bool conv_drop_capture(Conv *v, Err *err);

bool conv_locked(Conv *v, const char *what, LockedBody body, Err *err);
/* partmig's undo log triggers on each partition of the new table, dropped
 * a few partitions a transaction (convert_undo.c). */
bool conv_drop_leaf_triggers(Conv *v, Err *err);
/* The custom setting that keeps the undo log's triggers quiet in partmig's
 * own session before the swap. */
const char *conv_quiet_setting(Conv *v);

bool conv_set_state(Conv *v, const char *state, Err *err);

/* The latest conversion of the policy's table (active first). */
bool conv_load_row(Conv *v, Err *err);

bool conv_ledger_present(PgConn *c, bool *present, Err *err);

/* The swap (or attach) committed with this: its lock's duration since
 * STARTED (retry_now) recorded, and the state "swapped". */
bool conv_record_swapped(Conv *v, double started, Err *err);

bool conv_state_is(const Conv *v, const char *s);

/* Run a multi-statement conv_script (DDL built by partmig, names quoted). */
bool conv_script(PgConn *c, const Buf *b, Err *err);

/* " OVERRIDING SYSTEM VALUE" for inserts of existing rows when the table
 * has identity columns: a GENERATED ALWAYS column refuses given values
 * without it, BY DEFAULT takes them either way. */
const char *conv_overriding(const Conv *v);

void conv_init(Conv *v, PgConn *c, const Policy *p, const ConvertOptions *o, Arena *a);

/* Facts of the original table, wherever it is now (by its oid). */
bool conv_gather_original(Conv *v, Err *err);

/* Dependent views of relation OID with their definitions, read before the
 * renames so re-creating them binds to the table that carries the name. */
bool conv_views_capture(Conv *v, const char *oid, Buf *out, Err *err);

/* GRANT statements giving TO the privileges FROM_OID has (owner excluded). */
bool conv_grants_copy(Conv *v, const char *from_oid, const char *to, Buf *out, Err *err);

/* Row level security of FROM_OID on TO: ENABLE/FORCE and every policy
 * (command, permissive or restrictive, roles, USING, WITH CHECK), so that
 * the converted table shows each role the same rows.  The expressions are
 * the server's own text (pg_get_expr, names qualified as needed under
 * partmig's search_path). */
bool conv_row_security_copy(Conv *v, const char *from_oid, const char *to, Buf *out, Err *err);

/* The old table's storage parameters (fillfactor, autovacuum_*) on every
 * leaf partition of TABLE: a partitioned parent takes none itself. */
bool conv_reloptions_copy(Conv *v, const char *table, Buf *out, Err *err);

/* ALTER ... OWNER TO for TABLE and every relation in its partition tree. */
bool conv_owner_copy(Conv *v, const char *table, const char *owner, Buf *out, Err *err);

/* ALTER SEQUENCE ... OWNED BY TO.col for sequences owned by columns of FROM_OID. */
bool conv_sequences_move(Conv *v, const char *from_oid, const char *to, Buf *out, Err *err);

/* The verification's buckets (convert_bucket.c). */
/* The row fingerprint summed per partition: a 64-bit hash of each row,
 * added up (numeric, no overflow).  Order does not matter, so no sort; a
 * changed, missing or extra row changes the sum (up to a 2^-64 chance).
 * SRC and DST have the same columns of the same types in the same order
 * (CREATE TABLE ... LIKE), so equal rows hash alike.  PostgreSQL 14 and
 * later hash the typed values (hash_record_extended, cheap); the md5 of the
 * row's text serves older servers and columns of a type without a hash
 * function (json, point, ...). */
enum { HASH_NONE, HASH_TYPED, HASH_TEXT };
const char *conv_row_hash(Arena *a, int kind, const char *row);

/* One relation of the new table's partition tree. */
typedef struct TreeNode {
    const char *oid, *name, *parent, *bound;
    bool leaf;
    char strat;             /* 'r' 'l' 'h' for partitioned nodes, else 0 */
    int natts;              /* partition key columns (0: not partitioned) */
    const char *col, *type; /* the key column (quoted) and its type, when one plain column */
    const char *coll;       /* the key's collation (qualified, quoted) or "" */
    const char *constraint; /* leaves: the server's partition constraint */
    int b1, b2;             /* leaves: the bucket pair the source's rows take */
    int nidx;               /* leaves: their indexes (each a lock when read) */
} TreeNode;

/* The new table's partition tree, root first. */
bool conv_read_tree(Conv *v, const char *dst, TreeNode **out, int *n, Err *err);
/* The source query: each row of SRC (not in EXCL's keys) with its bucket
 * pair, grouped, with counts and summed HASH; sets every leaf's pair. */
bool conv_bucket_query(Conv *v, TreeNode *nodes, int n, const char *src, const char *excl, const char *hash, Buf *q,
                       Err *err);

/* Make the identity sequence of COL in TO continue where the one in FROM
 * stands (its last_value and is_called), so that values generated after
 * this never collide with values FROM's sequence handed out (cached ones
 * included: last_value counts them).  Runs under the caller's lock of both
 * tables; FROM_SEQ and TO_SEQ (may be NULL) receive the sequences. */
bool conv_identity_continue(Conv *v, const char *from, const char *to, const char *col, IdentSeq *from_seq,
                            IdentSeq *to_seq, Err *err);

bool conv_verify_counts(Conv *v, const char *src, const char *dst, const char *log, int64_t *rows, Err *err);

/* Like conv_verify_counts; with FINGERPRINT each partition's rows are also
 * compared by content (ROW_HASH), in the same snapshot. */
bool conv_verify_rows(Conv *v, const char *src, const char *dst, const char *log, bool fingerprint, int64_t *rows,
                      Err *err);

bool conv_backfill(Conv *v, Err *err);

bool conv_record_names(Conv *v, const char *original, const char *parked, const char *staged, Err *err);

bool conv_run_copy(Conv *v, Err *err);

/* Make the shadow take every changed row (ALL: every row of the old
 * table): range policies without a DEFAULT partition get the missing
 * partitions, named and bounded like the others; with a DEFAULT partition
 * such rows go there (reported before the swap); a list value no list has
 * fails with the key and the fix.  *MADE counts new partitions.  Runs in
 * the caller's transaction, if any. */
bool conv_cover_changed_rows(Conv *v, bool all, int *made, Err *err);

/* Rows in the shadow's DEFAULT partition, reported (never hidden). */
bool conv_report_default_rows(Conv *v, Err *err);

const char *conv_range_check_name(Conv *v);

const char *conv_attach_index_name(Conv *v);

bool conv_run_attach(Conv *v, Err *err);

/* Renames recorded at the swap, undone: the new table's index (or identity
 * sequence) gives its name back (to STAGED, or dropped with the table) and
 * the old one takes it.  ALTER TABLE renames indexes and sequences alike. */
bool conv_names_back(Conv *v, Buf *b, bool staged_too, Err *err);

/* *LOG: the conversion's undo log (v->q_undo) when it exists, else NULL (a
 * conversion an older partmig swapped with a synchronous copy into the old
 * table instead). */
bool conv_undo_log(Conv *v, const char **log, Err *err);

/* Make the undo log complete before it is read (rollback, finalize): from
 * now on every change is logged, and the rows written since the swap's
 * horizon are (partmig.conversion_seal_undo_log and conversion_undo_scan,
 * sql/conversion.sql).  Nothing to do for a log that is complete already.
 * FINALIZING: refuse past the horizon's 2^31-transaction window (a
 * rollback logs every row instead). */
bool conv_seal_undo(Conv *v, bool finalizing, Err *err);

/* convert_index.c: every index of the new table and its statistics, before
 * the swap (state backfilling); the staged name of the policy's index J,
 * which the swap renames. */
bool conv_build_indexes(Conv *v, Err *err);
const char *conv_policy_index_staged(const Conv *v, int j);

#endif
