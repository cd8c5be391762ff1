-- ledger.sql: partmig's own tables in schema partmig -- the ledger.
--
-- Embedded in the binary at build time (CMake) and run by ledger_ensure in
-- one transaction, with conversion.sql, whenever partmig.meta's
-- 'sql_version' differs from the one below: that is the upgrade path, so
-- every statement is idempotent (IF NOT EXISTS; a column added in a later
-- version is also added with ADD COLUMN IF NOT EXISTS, for ledgers made
-- before it).  Bump the version on any change to this file or to
-- conversion.sql.
--
-- partmig sql_version: 10

-- key/value facts about the ledger itself: 'ledger_version', 'sql_version'
CREATE TABLE IF NOT EXISTS partmig.meta (
  key text PRIMARY KEY,
  value text NOT NULL);

-- one row per migration file applied (or being applied)
CREATE TABLE IF NOT EXISTS partmig.migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  state text NOT NULL CHECK (state IN ('applied', 'running', 'failed', 'rolled_back')),
  started_at timestamptz,
  finished_at timestamptz,
  duration_ms bigint,
  applied_by text NOT NULL DEFAULT current_user);

CREATE TABLE IF NOT EXISTS partmig.steps (
  version integer NOT NULL REFERENCES partmig.migrations ON DELETE CASCADE,
  step integer NOT NULL,
  action text NOT NULL,
  title text,
  state text NOT NULL CHECK (state IN ('running', 'done', 'failed', 'rolled_back')),
  attempts integer NOT NULL DEFAULT 0,
  started_at timestamptz,
  finished_at timestamptz,
  duration_ms bigint,
  detail jsonb NOT NULL DEFAULT '{}',
  error text,
  PRIMARY KEY (version, step));

-- what a step created (undo and verify read it)
CREATE TABLE IF NOT EXISTS partmig.step_objects (
  version integer NOT NULL,
  step integer NOT NULL,
  kind text NOT NULL CHECK (kind IN ('partition', 'index')),
  schema_name text NOT NULL,
  object_name text NOT NULL,
  bound text NOT NULL DEFAULT '',
  PRIMARY KEY (version, step, kind, schema_name, object_name),
  FOREIGN KEY (version, step) REFERENCES partmig.steps ON DELETE CASCADE);

CREATE TABLE IF NOT EXISTS partmig.policies (
  table_name text PRIMARY KEY,
  policy jsonb NOT NULL,
  version integer NOT NULL,
  registered_at timestamptz NOT NULL DEFAULT now());

-- ledger version 2: each table's last `partmig maintain` run
CREATE TABLE IF NOT EXISTS partmig.maintain_runs (
  table_name text PRIMARY KEY,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  result text NOT NULL CHECK (result IN ('running', 'ok', 'failed')),
  error text,
  changes integer NOT NULL DEFAULT 0,
  last_ok_at timestamptz);

-- the conversions of existing tables (runtime/convert*.c)
CREATE TABLE IF NOT EXISTS partmig.conversions (
    id bigserial PRIMARY KEY,
    table_schema text NOT NULL,
    table_name text NOT NULL,
    method text NOT NULL CHECK (method IN ('copy', 'attach')),
    state text NOT NULL CHECK (state IN ('preflight', 'shadow_created', 'mirroring', 'backfilling',
        'verified', 'swapped', 'finalized', 'rolled_back')),
    version integer, step integer,
    old_oid oid NOT NULL,
    shadow_name text, kept_name text,
    lower_bound text, upper_bound text,
    rows_verified bigint, swap_ms double precision,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    swapped_at timestamptz, finished_at timestamptz
);
-- sql_version 3: what the copy method's change capture and re-copy
-- (conversion.sql) read: the key the rows are copied by (keyset order) and
-- the partition column, with their types as format_type prints them (set
-- by partmig.conversion_set_keys from the catalog), and the change log's
-- name in schema partmig (NULL for a conversion an older partmig started:
-- conv_<id>_log)
ALTER TABLE partmig.conversions ADD COLUMN IF NOT EXISTS key_columns text[];
ALTER TABLE partmig.conversions ADD COLUMN IF NOT EXISTS key_types text[];
ALTER TABLE partmig.conversions ADD COLUMN IF NOT EXISTS part_column text;
ALTER TABLE partmig.conversions ADD COLUMN IF NOT EXISTS part_type text;
ALTER TABLE partmig.conversions ADD COLUMN IF NOT EXISTS log_name text;
-- sql_version 7: the undo log's horizon (conversion.sql): a swapped copy
-- conversion whose undo log takes deletes and key moves only; every other
-- row written since the swap has an xmin the swap's snapshot does not see
-- (undo_snapshot, as txid_current_snapshot prints it) other than the swap's
-- own (undo_swap_xid); undo_horizon is that snapshot's xmin, the oldest
-- transaction then running (the 2^31 window counts from it).  NULL: every
-- change is logged.
ALTER TABLE partmig.conversions ADD COLUMN IF NOT EXISTS undo_horizon bigint;
ALTER TABLE partmig.conversions ADD COLUMN IF NOT EXISTS undo_snapshot text;
ALTER TABLE partmig.conversions ADD COLUMN IF NOT EXISTS undo_swap_xid bigint;
-- sql_version 8: no new column; the undo log's key-move trigger is made
-- UPDATE OF the key and partition columns, and the seal's trigger is made
-- with it, disabled, for the seal to enable a few partitions at a time
-- (conversion.sql).
-- sql_version 9: no new column; the capture's and the undo log's triggers
-- are ENABLE ALWAYS, firing under session_replication_role = replica too;
-- the undo log's triggers are made on each partition, not cloned from the
-- table (conversion_leaf_triggers; the seal makes them on partitions made
-- since, conversion_seal_fresh); rollback compares the two tables row by
-- row (conversion_undo_compare replaces conversion_undo_vanished)
-- (conversion.sql).
-- sql_version 10: no new column; the undo log's trigger function is one
-- statement (one cached plan per partition's copy of it in a session, not
-- five: each relation invalidation walks them all) (conversion.sql).
CREATE UNIQUE INDEX IF NOT EXISTS conversions_active ON partmig.conversions (table_schema, table_name)
    WHERE state NOT IN ('finalized', 'rolled_back');

-- the copy's key ranges, one per parallel job
CREATE TABLE IF NOT EXISTS partmig.conversion_jobs (
    conversion bigint NOT NULL REFERENCES partmig.conversions (id),
    job integer NOT NULL, key_lo text[], key_hi text[] NOT NULL,
    PRIMARY KEY (conversion, job)
);

-- names moved aside at the swap, for the rollback
CREATE TABLE IF NOT EXISTS partmig.conversion_names (
    conversion bigint NOT NULL REFERENCES partmig.conversions (id),
    original text NOT NULL, parked text NOT NULL, staged text,
    PRIMARY KEY (conversion, original)
);

-- every copied batch with its counts (verify re-checks them)
CREATE TABLE IF NOT EXISTS partmig.batches (
    id bigserial PRIMARY KEY,
    conversion bigint NOT NULL REFERENCES partmig.conversions (id),
    job integer NOT NULL,
    key_lo text[], key_hi text[] NOT NULL,
    source_rows bigint NOT NULL, copied_rows bigint NOT NULL, target_rows bigint NOT NULL,
    ms double precision,
    done_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS batches_conversion ON partmig.batches (conversion, job, id);

-- partitions `partmig maintain`'s retention removes: recorded before the
-- detach, finished with the last step (maintain_sql.c)
CREATE TABLE IF NOT EXISTS partmig.retention_log (
    schema_name text NOT NULL, table_name text NOT NULL, parent text NOT NULL,
    bound text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz, PRIMARY KEY (schema_name, table_name));
