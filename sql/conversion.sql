-- conversion.sql: the SQL the copy method of a conversion runs in the
-- database, as functions in schema partmig (runtime/convert_capture.c calls
-- them; docs/DESIGN.md "The ledger and the SQL files").
--
-- Embedded in the binary and run with ledger.sql (whose header holds the
-- version) whenever the stored sql_version differs: every function is
-- CREATE OR REPLACE.  Each one reads the conversion's tables and columns
-- from its row in partmig.conversions and quotes every name with
-- format('%I'); values travel as parameters (USING) or %L literals.
-- Nobody but partmig's role may call them: EXECUTE is revoked from PUBLIC
-- (a SECURITY DEFINER trigger function attached to another table would
-- write as partmig's role; triggers fire without an EXECUTE check).

-- A column of partmig's own in the change log, which also holds the key
-- under the table's own column names: BASE, with "_" appended while a key
-- column has that name.
CREATE OR REPLACE FUNCTION partmig.conversion_log_column(keys text[], base text)
RETURNS text LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  pm_name text := base;
BEGIN
  WHILE pm_name = ANY (keys) LOOP
    pm_name := pm_name || '_';
  END LOOP;
  RETURN pm_name;
END
$fn$;

-- The key's columns KEYS and the partition column PART, each once (the key
-- may hold it), quoted, as a list.
CREATE OR REPLACE FUNCTION partmig.conversion_key_part_list(keys text[], part text)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT string_agg(format('%I', d.k), ', ' ORDER BY d.i)
    FROM (SELECT u.k, min(u.i) AS i FROM unnest(keys || part) WITH ORDINALITY u (k, i) GROUP BY u.k) d
$fn$;

-- Record the key the conversion's rows are copied by (KEYS, in keyset
-- order) and the partition column PART, with their types as format_type
-- prints them from the catalog of the original table (by its oid), and the
-- change log's name.  Idempotent: a resumed conversion records the same.
CREATE OR REPLACE FUNCTION partmig.conversion_set_keys(conversion bigint, keys text[], part text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_oid oid;
  pm_types text[];
  pm_part_type text;
BEGIN
  SELECT v.old_oid INTO pm_oid FROM partmig.conversions v WHERE v.id = conversion;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'partmig: no conversion %', conversion;
  END IF;
  IF coalesce(cardinality(keys), 0) = 0 THEN
    RAISE EXCEPTION 'partmig: conversion % needs a key', conversion;
  END IF;
  SELECT array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY u.i) INTO pm_types
    FROM unnest(keys) WITH ORDINALITY u (k, i)
    JOIN pg_attribute a ON a.attrelid = pm_oid AND a.attname = u.k AND a.attnum > 0 AND NOT a.attisdropped;
  SELECT format_type(a.atttypid, a.atttypmod) INTO pm_part_type
    FROM pg_attribute a WHERE a.attrelid = pm_oid AND a.attname = part AND a.attnum > 0 AND NOT a.attisdropped;
  IF coalesce(cardinality(pm_types), 0) <> cardinality(keys) OR pm_part_type IS NULL THEN
    RAISE EXCEPTION 'partmig: conversion %: a key or partition column (% / %) is not a column of table %',
      conversion, keys, part, pm_oid::regclass;
  END IF;
  UPDATE partmig.conversions v
     SET key_columns = keys, key_types = pm_types, part_column = part, part_type = pm_part_type,
         log_name = coalesce(v.log_name, format('conv_%s_log', v.id))
   WHERE v.id = conversion;
END
$fn$;

-- The conversion's row, checked for what the change capture needs: the
-- keys recorded, their types still the table's (they are spliced into DDL,
-- so they must be what format_type prints, nothing else), the original
-- table present.  TBL receives the original table's qualified quoted name.
CREATE OR REPLACE FUNCTION partmig.conversion_row(conversion bigint, OUT r partmig.conversions, OUT tbl text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
BEGIN
  SELECT * INTO r FROM partmig.conversions v WHERE v.id = conversion;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'partmig: no conversion %', conversion;
  END IF;
  IF r.key_columns IS NULL OR r.part_column IS NULL OR r.log_name IS NULL THEN
    RAISE EXCEPTION 'partmig: conversion % has no keys recorded (partmig.conversion_set_keys)', conversion;
  END IF;
  SELECT format('%I.%I', n.nspname, c.relname) INTO tbl
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = r.old_oid;
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'partmig: the original table of conversion % is gone', conversion;
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(r.key_columns || r.part_column, r.key_types || r.part_type) u (k, t)
              WHERE u.t IS DISTINCT FROM (SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
                                           WHERE a.attrelid = r.old_oid AND a.attname = u.k AND a.attnum > 0
                                             AND NOT a.attisdropped)) THEN
    RAISE EXCEPTION 'partmig: the key or partition column types of % changed since conversion % recorded them',
      tbl, conversion;
  END IF;
END
$fn$;

-- The refusal of TRUNCATE on a table being converted (a TRUNCATE fires no
-- row trigger: the change log, or the reverse mirror after the swap, would
-- miss it).  A statement trigger with the conversion's id as argument,
-- inert once the conversion is finalized or rolled back; SECURITY DEFINER
-- so that it reads partmig.conversions whoever truncates.
CREATE OR REPLACE FUNCTION partmig.conversion_guard()
RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF TG_OP <> 'TRUNCATE' OR TG_NARGS <> 1 THEN
    RAISE EXCEPTION 'partmig: conversion_guard is a TRUNCATE trigger with the conversion''s id as argument';
  END IF;
  IF EXISTS (SELECT 1 FROM partmig.conversions v WHERE v.id = TG_ARGV[0]::bigint
                AND v.state NOT IN ('finalized', 'rolled_back')) THEN
    RAISE EXCEPTION 'table % is being converted by partmig: TRUNCATE is refused until the conversion finishes or is rolled back',
      TG_TABLE_NAME;
  END IF;
  RETURN NULL;
END
$fn$;

-- A log of a conversion's changes and the trigger function that fills it:
-- partmig.<LOG> holds, per written row, the key and the partition value of
-- the row version it ends (OLD: update, delete) and of the one it makes
-- when the key or the partition value changed (NEW: insert, update),
-- numbered in the order written when SEQ; the key has an index.  The
-- function partmig.<FN> runs for every row written, so it is made with the
-- names written in (no lookups); it runs as its owner (application roles
-- need no rights on the log) and acts only as a trigger on table TBL (by
-- oid, so renames do not matter) or its partitions.
CREATE OR REPLACE FUNCTION partmig.conversion_make_log(conversion bigint, log text, seq boolean, tbl oid, fn text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  r partmig.conversions;
  pm_log text := format('%I.%I', 'partmig', log);
  pm_fn text := format('%I.%I', 'partmig', fn);
  pm_seq text := '';
  pm_part text;
  pm_defs text;
  pm_kl text;
  pm_oldk text;
  pm_newk text;
  pm_body text;
  pm_vk text;
  pm_vsel text;
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_row(conversion);
  r := pm_row.r;
  IF seq THEN
    pm_seq := format('%I bigserial PRIMARY KEY, ', partmig.conversion_log_column(r.key_columns, 'partmig_seq'));
  END IF;
  pm_part := format('%I', partmig.conversion_log_column(r.key_columns, 'partmig_part'));
  SELECT string_agg(format('%I %s', u.k, u.t), ', ' ORDER BY u.i), string_agg(format('%I', u.k), ', ' ORDER BY u.i),
         string_agg(format('OLD.%I', u.k), ', ' ORDER BY u.i), string_agg(format('NEW.%I', u.k), ', ' ORDER BY u.i)
    INTO pm_defs, pm_kl, pm_oldk, pm_newk
    FROM unnest(r.key_columns, r.key_types) WITH ORDINALITY u (k, t, i);
  EXECUTE format('CREATE TABLE %s (%s%s, %s %s)', pm_log, pm_seq, pm_defs, pm_part, r.part_type);
  EXECUTE format('CREATE INDEX ON %s (%s)', pm_log, pm_kl);
  -- another table: the capture refuses; the undo log's function does
  -- nothing (its triggers are on each partition, and a partition detached
  -- since keeps them: what is written to it is no longer the table's)
  IF seq THEN
    pm_body := format($body$BEGIN
  IF coalesce(pg_catalog.pg_partition_root(TG_RELID), TG_RELID) IS DISTINCT FROM %L::pg_catalog.oid THEN
    RAISE EXCEPTION 'partmig: this trigger function is not for table %%', TG_RELID::pg_catalog.regclass;
  END IF;
  IF TG_OP <> 'INSERT' THEN INSERT INTO %s (%s, %s) VALUES (%s, OLD.%I); END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (%s, OLD.%I) IS DISTINCT FROM (%s, NEW.%I)) THEN
    INSERT INTO %s (%s, %s) VALUES (%s, NEW.%I);
  END IF;
  RETURN NULL;
END$body$,
      tbl, pm_log, pm_kl, pm_part, pm_oldk, r.part_column, pm_oldk, r.part_column, pm_newk, r.part_column,
      pm_log, pm_kl, pm_part, pm_newk, r.part_column);
  ELSE
    -- The undo log's function runs as a trigger of each partition, and
    -- PL/pgSQL compiles a function once per trigger in every session that
    -- fires it, each copy keeping a cached plan per expression and
    -- statement it ran.  Every relation invalidation (a partition's trigger
    -- made or dropped, thousands at the seal, finalize and rollback) has
    -- each session walk all its cached plans: with five per copy at 1,431
    -- partitions, writers fell behind the invalidations and stalled for
    -- 0.1-1 s.  So: one statement (one plan a copy), its conditions in its
    -- WHERE clause, and RETURN NEW (a variable: no plan; an AFTER trigger's
    -- value is ignored).
    SELECT string_agg(format('pm_k%s', i), ', ' ORDER BY i), string_agg(format('pm_v.pm_k%s', i), ', ' ORDER BY i)
      INTO pm_vk, pm_vsel FROM generate_series(1, cardinality(r.key_columns)) i;
    pm_body := format($body$BEGIN
  INSERT INTO %s (%s, %s)
  SELECT %s, pm_v.pm_p FROM (VALUES (%s, OLD.%I, TG_OP <> 'INSERT'),
      (%s, NEW.%I, TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND (%s, OLD.%I) IS DISTINCT FROM (%s, NEW.%I))))
    AS pm_v (%s, pm_p, pm_w)
   WHERE pm_v.pm_w AND coalesce(pg_catalog.pg_partition_root(TG_RELID), TG_RELID) = %L::pg_catalog.oid;
  RETURN NEW;
END$body$,
      pm_log, pm_kl, pm_part, pm_vsel, pm_oldk, r.part_column, pm_newk, r.part_column, pm_oldk, r.part_column, pm_newk, r.part_column,
      pm_vk, tbl);
  END IF;
  -- the body as a literal (%L): no name can end a dollar quote
  EXECUTE format('CREATE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER'
                 ' SET search_path = pg_catalog, pg_temp AS %L', pm_fn, pm_body);
  EXECUTE format('REVOKE ALL ON FUNCTION %s() FROM PUBLIC', pm_fn);
END
$fn$;

-- The change capture of a copy conversion, from its row (keys recorded):
-- the change log partmig.<log_name> (conversion_make_log, numbered) and
-- its function partmig.conv_<id>_capture, acting for the original table;
-- the triggers partmig_capture and partmig_no_truncate on the table.
-- Every version the new table can hold for a key was copied while
-- current, so the re-copy finds it by key and partition value among the
-- key's entries (the partition value lets the DELETE prune to one
-- partition).
CREATE OR REPLACE FUNCTION partmig.conversion_install_capture(conversion bigint)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  pm_fn text := format('%I.%I', 'partmig', format('conv_%s_capture', conversion));
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_row(conversion);
  PERFORM partmig.conversion_make_log(conversion, (pm_row.r).log_name, true, (pm_row.r).old_oid,
                                      format('conv_%s_capture', conversion));
  EXECUTE format('CREATE TRIGGER partmig_capture AFTER INSERT OR UPDATE OR DELETE ON %s'
                 ' FOR EACH ROW EXECUTE FUNCTION %s()', pm_row.tbl, pm_fn);
  EXECUTE format('CREATE TRIGGER partmig_no_truncate BEFORE TRUNCATE ON %s'
                 ' FOR EACH STATEMENT EXECUTE FUNCTION partmig.conversion_guard(%L)', pm_row.tbl, conversion);
  -- ALWAYS: they fire in sessions with session_replication_role = replica
  -- too (logical replication's apply worker, bulk loads that turn the
  -- table's own triggers off that way), whose changes the copy needs
  EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER partmig_capture, ENABLE ALWAYS TRIGGER partmig_no_truncate',
                 pm_row.tbl);
END
$fn$;

-- Re-copy the keys changed during a copy conversion from the original
-- table into the new one (the shadow); returns the number of keys.
--
-- LIM: log entries to take (NULL: all); LOCKED: the table is locked (the
-- swap), so every entry is taken and no row lock is needed.  Otherwise it
-- takes the keys of the first LIM entries, share-locks their current rows
-- in the old table (skipping locked ones), then, in statements that see
-- every change committed before the locks, takes all entries of those keys
-- (and of keys that have no row), deletes the new table's rows they name,
-- and inserts the current rows: set-based, one statement each.  A key
-- whose row is locked by a writer waits in the log for a later round.
--
-- Every column in the statements is qualified, and they are dynamic SQL
-- (no PL/pgSQL variable in them), so no user column name can change what a
-- statement means.  Joins are nested loops over the batch: index probes,
-- pruned to one partition.  The DELETE from the new table is a join, which
-- the planner cannot prune: planned (and locked) over every partition it
-- took ~300 ms at 1,100 partitions, under the swap's lock (and, in a
-- round, with the batch's rows share-locked: writers waited for it).  So
-- the DELETE runs in slices of up to pm_prune_max entries, each naming its
-- partition values, ($1[i]).part for each entry i, which the planner folds
-- into constants (the slice is a parameter): it plans and locks only those
-- partitions.  The work is done by conversion_resync_rows, whose last
-- argument, a NULL array of the log's row type, gives the batch's variables
-- that type (a polymorphic function): the batch goes from statement to
-- statement as a typed array, never through text.
CREATE OR REPLACE FUNCTION partmig.conversion_resync(conversion bigint, lim integer, locked boolean)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_log text;
  pm_n bigint;
BEGIN
  SELECT format('%I.%I', 'partmig', v.log_name) INTO pm_log FROM partmig.conversions v WHERE v.id = conversion;
  IF pm_log IS NULL THEN
    RAISE EXCEPTION 'partmig: conversion % has no change log recorded (partmig.conversion_set_keys)', conversion;
  END IF;
  EXECUTE format('SELECT partmig.conversion_resync_rows($1, $2, $3, NULL::%s[])', pm_log)
    INTO pm_n USING conversion, lim, locked;
  RETURN pm_n;
END
$fn$;

CREATE OR REPLACE FUNCTION partmig.conversion_resync_rows(conversion bigint, lim integer, locked boolean,
                                                          batch_type anyarray)
RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp SET enable_hashjoin = off SET enable_mergejoin = off AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  r partmig.conversions;
  pm_tbl text;
  pm_shadow text;
  pm_log text;     -- also the name of its row type
  pm_seq text;
  pm_part text;
  pm_lkl text;     -- l.k1, l.k2
  pm_okl text;     -- o.k1, o.k2
  pm_xkl text;     -- pm_x.k1, pm_x.k2
  pm_eq text;      -- s.k1 = g.k1 AND ...
  pm_cols text;
  pm_ocols text;
  pm_overriding text := '';
  pm_last bigint;
  pm_locked batch_type%TYPE;  -- arrays of the log's row type
  pm_batch batch_type%TYPE;
  pm_slice batch_type%TYPE;
  pm_c integer;
  pm_n bigint;
  pm_in text := '';
  pm_prune_max constant integer := 1000;
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_row(conversion);
  r := pm_row.r;
  pm_tbl := pm_row.tbl;
  IF r.shadow_name IS NULL THEN
    RAISE EXCEPTION 'partmig: conversion % has no new table', conversion;
  END IF;
  pm_shadow := format('%I.%I', r.table_schema, r.shadow_name);
  pm_log := format('%I.%I', 'partmig', r.log_name);
  IF pg_typeof(batch_type) <> format('%s[]', pm_log)::regtype THEN
    RAISE EXCEPTION 'partmig: conversion %: the batch is of type %, not %[]', conversion, pg_typeof(batch_type), pm_log;
  END IF;
  pm_seq := format('%I', partmig.conversion_log_column(r.key_columns, 'partmig_seq'));
  pm_part := format('%I', partmig.conversion_log_column(r.key_columns, 'partmig_part'));
  SELECT string_agg(format('l.%I', u.k), ', ' ORDER BY u.i), string_agg(format('o.%I', u.k), ', ' ORDER BY u.i),
         string_agg(format('pm_x.%I', u.k), ', ' ORDER BY u.i),
         string_agg(format('s.%I = g.%I', u.k, u.k), ' AND ' ORDER BY u.i)
    INTO pm_lkl, pm_okl, pm_xkl, pm_eq
    FROM unnest(r.key_columns) WITH ORDINALITY u (k, i);
  -- the columns an INSERT takes (not dropped, not generated), as copied
  SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum),
         string_agg(format('o.%I', a.attname), ', ' ORDER BY a.attnum),
         CASE WHEN bool_or(a.attidentity <> '') THEN ' OVERRIDING SYSTEM VALUE' ELSE '' END
    INTO pm_cols, pm_ocols, pm_overriding
    FROM pg_attribute a WHERE a.attrelid = r.old_oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
  IF locked THEN
    EXECUTE format('WITH d AS (DELETE FROM %1$s l RETURNING l.*) SELECT array_agg(ROW(d.*)::%1$s) FROM d', pm_log)
      INTO pm_batch;
  ELSE
    EXECUTE format('SELECT max(l.%2$s) FROM (SELECT l.%2$s FROM %1$s l ORDER BY l.%2$s LIMIT $1) l', pm_log, pm_seq)
      INTO pm_last USING lim;
    IF pm_last IS NULL THEN
      RETURN 0;
    END IF;
    EXECUTE format('SELECT array_agg(k.r) FROM (SELECT ROW(NULL, %1$s, NULL)::%2$s AS r FROM %3$s o'
                   ' WHERE (%1$s) IN (SELECT %4$s FROM %2$s l WHERE l.%5$s <= $1) FOR SHARE OF o SKIP LOCKED) k',
                   pm_okl, pm_log, pm_tbl, pm_lkl, pm_seq)
      INTO pm_locked USING pm_last;
    EXECUTE format('WITH d AS (DELETE FROM %1$s l WHERE (%2$s) IN (SELECT %2$s FROM %1$s l WHERE l.%3$s <= $1)'
                   ' AND ((%2$s) IN (SELECT %4$s FROM unnest($2) pm_x)'
                   ' OR NOT EXISTS (SELECT 1 FROM %5$s o WHERE (%6$s) = (%2$s))) RETURNING l.*)'
                   ' SELECT array_agg(ROW(d.*)::%1$s) FROM d',
                   pm_log, pm_lkl, pm_seq, pm_xkl, pm_tbl, pm_okl)
      INTO pm_batch USING pm_last, pm_locked;
  END IF;
  IF pm_batch IS NULL THEN
    RETURN 0;
  END IF;
  -- in slices of pm_prune_max entries, each planned in its partitions only
  FOR pm_c IN 0 .. (cardinality(pm_batch) - 1) / pm_prune_max LOOP
    pm_slice := pm_batch[pm_c * pm_prune_max + 1 : (pm_c + 1) * pm_prune_max];
    SELECT format(' AND s.%I IN (%s)', r.part_column, string_agg(format('($1[%s]).%s', i, pm_part), ', ' ORDER BY i))
      INTO pm_in FROM generate_series(1, cardinality(pm_slice)) i;
    EXECUTE format('DELETE FROM %1$s s USING (SELECT DISTINCT %2$s, pm_x.%3$s FROM unnest($1) pm_x) g'
                   ' WHERE %4$s AND s.%5$I = g.%3$s%6$s',
                   pm_shadow, pm_xkl, pm_part, pm_eq, r.part_column, pm_in)
      USING pm_slice;
  END LOOP;
  EXECUTE format('INSERT INTO %1$s (%2$s)%3$s SELECT %4$s FROM %5$s o'
                 ' WHERE (%6$s) IN (SELECT %7$s FROM unnest($1) pm_x)',
                 pm_shadow, pm_cols, pm_overriding, pm_ocols, pm_tbl, pm_okl, pm_xkl)
    USING pm_batch;
  EXECUTE format('SELECT count(*) FROM (SELECT DISTINCT %s FROM unnest($1) pm_x) k', pm_xkl)
    INTO pm_n USING pm_batch;
  RETURN pm_n;
END
$fn$;

-- The rollback point after the swap: the undo log.  From the swap until
-- finalize (or a rollback), the old table is kept as it was at the swap,
-- and partmig.conv_<id>_undo names what the new table's rows changed since:
-- each entry a key and partition value.  Invariant: the two tables agree
-- on every key that is neither in the log nor on a row written since the
-- swap.
--
-- What the application pays for it, on each partition of the new table
-- (conversion_leaf_triggers), is only
--   partmig_reverse       AFTER DELETE: logs OLD;
--   partmig_reverse_move  AFTER UPDATE OF the key and partition columns,
--                         WHEN their values change: logs OLD and NEW.
-- An insert or an update in place calls nothing: its row has an xmin that
-- the swap's snapshot (undo_snapshot, taken in the swap's transaction) does
-- not see, and that is not the swap's own (undo_swap_xid: its re-copies are
-- partmig's).  Not "newer than the swap's id": a transaction that got its
-- id before the swap, writing elsewhere, may write the new table after it
-- (the snapshot lists it as running).  Nor "at or after the snapshot's
-- xmin": a session idle in a transaction through the whole copy would put
-- that before every copied row, and finalize would compare none of them.  A
-- trigger logging every row cost the application 8% of its updates at 48
-- partitions and 38% of cheap pruned ones at 1,431; the WHEN clause is
-- evaluated without a function call.  OF: an UPDATE naming neither
-- column does not parse the WHEN clause, which the server does once a
-- statement (writers' capacity between swap and finalize at 1,431
-- partitions: 1.09x of after with OF, 0.70x without, in the bench).  A
-- BEFORE UPDATE row trigger made since the swap (pre-flight refuses a table
-- with triggers), kept or dropped again, may change them unnamed: finalize
-- then finds the old table's row missing from the new one and refuses, and
-- rollback logs every (key, partition value) whose row differs between the
-- two tables (conversion_undo_gather, conversion_undo_compare) before it
-- copies back.
--
-- Before a rollback or finalize reads the log, conversion_seal_leaves
-- makes partmig_reverse_all (AFTER INSERT OR UPDATE: every change logged
-- from then on) on each partition, conversion_seal_fresh
-- makes the three on partitions made or attached since (their every row
-- is then logged), and conversion_undo_scan logs the rows written since
-- the swap, a few partitions at a time; undo_horizon is then cleared.  From
-- there on the log alone is complete, as rollback's rounds and finalize's
-- comparison need.  Freezing keeps a row's xmin (PostgreSQL 9.4 and
-- later); the comparison holds for 2^31 transactions after the horizon
-- (partmig refuses past a margin below that, and maintain seals earlier).
--
-- partmig's row triggers of the undo log on LEAF, a partition of the new
-- table, those it lacks (QUIET as in conversion_install_undo_log; SEALED:
-- the seal's partmig_reverse_all too); returns whether it made the delete
-- or the key-move trigger (the partition had none: made or attached
-- since).  On each partition by itself, not on the partitioned table: a
-- trigger made there is cloned onto every partition, and dropping it again
-- locks the table and every partition at once (50-78 ms at 1,431
-- partitions, writers queued behind it); these are dropped a few
-- partitions at a time.  A partition made or attached later has none until
-- the seal makes them and logs its every row (conversion_seal_fresh).
-- ALWAYS: a change made with session_replication_role = replica (logical
-- replication's apply worker) is one to undo too.
CREATE OR REPLACE FUNCTION partmig.conversion_leaf_triggers(conversion bigint, leaf oid, quiet text, sealed boolean)
RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  r partmig.conversions;
  pm_fn text := format('%I.%I', 'partmig', format('conv_%s_reverse', conversion));
  pm_oldk text;
  pm_newk text;
  pm_alter text[] := '{}';
  pm_made boolean;
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_row(conversion);
  r := pm_row.r;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = leaf AND g.tgname = 'partmig_reverse') THEN
    EXECUTE format('CREATE TRIGGER partmig_reverse AFTER DELETE ON %s FOR EACH ROW'
                   ' WHEN (pg_catalog.current_setting(%L, true) IS DISTINCT FROM ''on'') EXECUTE FUNCTION %s()',
                   leaf::regclass, quiet, pm_fn);
    pm_alter := pm_alter || 'ENABLE ALWAYS TRIGGER partmig_reverse'::text;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = leaf AND g.tgname = 'partmig_reverse_move') THEN
    SELECT string_agg(format('OLD.%I', u.k), ', ' ORDER BY u.i), string_agg(format('NEW.%I', u.k), ', ' ORDER BY u.i)
      INTO pm_oldk, pm_newk
      FROM unnest(r.key_columns || r.part_column) WITH ORDINALITY u (k, i);
    EXECUTE format('CREATE TRIGGER partmig_reverse_move AFTER UPDATE OF %s ON %s FOR EACH ROW'
                   ' WHEN ((%s) IS DISTINCT FROM (%s) AND pg_catalog.current_setting(%L, true) IS DISTINCT FROM ''on'')'
                   ' EXECUTE FUNCTION %s()',
                   partmig.conversion_key_part_list(r.key_columns, r.part_column), leaf::regclass, pm_oldk, pm_newk,
                   quiet, pm_fn);
    pm_alter := pm_alter || 'ENABLE ALWAYS TRIGGER partmig_reverse_move'::text;
  END IF;
  pm_made := cardinality(pm_alter) > 0;
  IF sealed AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = leaf AND g.tgname = 'partmig_reverse_all') THEN
    EXECUTE format('CREATE TRIGGER partmig_reverse_all AFTER INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %s()',
                   leaf::regclass, pm_fn);
    pm_alter := pm_alter || 'ENABLE ALWAYS TRIGGER partmig_reverse_all'::text;
  END IF;
  IF cardinality(pm_alter) > 0 THEN
    EXECUTE format('ALTER TABLE ONLY %s %s', leaf::regclass, array_to_string(pm_alter, ', '));
  END IF;
  RETURN pm_made;
END
$fn$;

-- The undo log and its trigger function, made on the new table (by its
-- shadow name) before the swap, unless made already; the function acts
-- only as a trigger on that table (by oid) or its partitions.  The
-- triggers are conversion_leaf_triggers', each partition's made with its
-- indexes (over the job connections), then conversion_install_undo_log's.
CREATE OR REPLACE FUNCTION partmig.conversion_make_undo_log(conversion bigint)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  r partmig.conversions;
  pm_new oid;
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_row(conversion);
  r := pm_row.r;
  pm_new := to_regclass(format('%I.%I', r.table_schema, r.shadow_name));
  IF r.state = 'swapped' OR pm_new IS NULL OR pm_new = r.old_oid THEN
    RAISE EXCEPTION 'partmig: conversion %: the undo log is made on the new table before the swap', conversion;
  END IF;
  IF to_regclass(format('%I.%I', 'partmig', format('conv_%s_undo', conversion))) IS NULL THEN
    -- no sequence: entries are taken in any order (a key's re-copy reads
    -- its current rows, whatever entry named it); the key's index serves
    -- the rounds (all entries of a key together) and finalize's
    -- comparison, which leaves logged keys out
    PERFORM partmig.conversion_make_log(conversion, format('conv_%s_undo', conversion), false, pm_new,
                                        format('conv_%s_reverse', conversion));
  END IF;
END
$fn$;

-- The undo log (conversion_make_undo_log) and its triggers on every
-- partition of the new table that lacks them, before the swap (QUIET names
-- the custom setting that keeps the triggers silent in partmig's own
-- session until then: its re-copies are not changes to undo).  A new table
-- whose triggers an earlier sql_version made on the table itself keeps
-- them.
CREATE OR REPLACE FUNCTION partmig.conversion_install_undo_log(conversion bigint, quiet text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  r partmig.conversions;
  pm_new oid;
  pm_rel oid;
BEGIN
  PERFORM partmig.conversion_make_undo_log(conversion);
  SELECT * INTO pm_row FROM partmig.conversion_row(conversion);
  r := pm_row.r;
  pm_new := to_regclass(format('%I.%I', r.table_schema, r.shadow_name));
  IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = pm_new AND t.tgname = 'partmig_reverse') THEN
    RETURN;
  END IF;
  -- the seal's, partmig_reverse_all, is made by the seal, a few partitions
  -- at a time (made here, disabled, it cost the apply another trigger a
  -- partition)
  FOR pm_rel IN SELECT t.relid FROM pg_partition_tree(pm_new) t
                 WHERE t.isleaf AND t.level > 0
                   AND (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = t.relid
                          AND g.tgname IN ('partmig_reverse', 'partmig_reverse_move')) < 2 LOOP
    PERFORM partmig.conversion_leaf_triggers(conversion, pm_rel, quiet, false);
  END LOOP;
END
$fn$;

-- A swapped copy conversion's row, its old table's name and its new table
-- (by the table's name), for the undo log's functions below; raises unless
-- the conversion is swapped onto a new table that has an undo log, and
-- LEAVES (if given) are all partitions of it.
CREATE OR REPLACE FUNCTION partmig.conversion_undo_target(conversion bigint, leaves oid[], OUT r partmig.conversions,
                                                          OUT tbl text, OUT new_table oid)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  pm_leaf oid;
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_row(conversion);
  r := pm_row.r;
  tbl := pm_row.tbl;
  new_table := to_regclass(format('%I.%I', r.table_schema, r.table_name));
  IF r.state <> 'swapped' OR new_table IS NULL OR new_table = r.old_oid
     OR to_regclass(format('%I.%I', 'partmig', format('conv_%s_undo', conversion))) IS NULL THEN
    RAISE EXCEPTION 'partmig: conversion % is not swapped onto a new table with an undo log', conversion;
  END IF;
  SELECT l INTO pm_leaf FROM unnest(leaves) l WHERE pg_partition_root(l) IS DISTINCT FROM new_table LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'partmig: % is not a partition of %', pm_leaf::regclass, new_table::regclass;
  END IF;
END
$fn$;

-- The seal, first part, for a conversion swapped by an earlier
-- sql_version, whose triggers are on the new table and cloned onto every
-- partition: partmig_reverse_all enabled on the table, so that every change
-- is logged from its commit on (made disabled).  Takes SHARE ROW EXCLUSIVE
-- on the table and its partitioned partitions only (on every partition, for
-- a conversion swapped by sql_version 7, which had no such trigger: 40-100
-- ms at 1,431 partitions, writers waiting): the caller runs it under a
-- short lock_timeout, retried.  Does nothing, and locks nothing, when the
-- triggers are on each partition (conversion_leaf_triggers): the leaves'
-- part does it all.
CREATE OR REPLACE FUNCTION partmig.conversion_seal_undo_log(conversion bigint)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  r partmig.conversions;
  pm_new oid;
  pm_rel oid;
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_undo_target(conversion, NULL);
  r := pm_row.r;
  pm_new := pm_row.new_table;
  IF NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = pm_new AND t.tgname = 'partmig_reverse') THEN
    RETURN;
  END IF;
  -- the parent first, by itself: a writer going through it holds no
  -- partition while this waits, so the partitions' locks cannot deadlock
  -- with it (readers are not held back by this mode)
  EXECUTE format('LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE', pm_new::regclass);
  IF NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = pm_new AND t.tgname = 'partmig_reverse_all') THEN
    -- swapped by sql_version 7: made here, on every partition at once
    EXECUTE format('CREATE TRIGGER partmig_reverse_all AFTER INSERT OR UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION %s()',
                   pm_new::regclass, format('%I.%I', 'partmig', format('conv_%s_reverse', conversion)));
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER partmig_reverse_all', pm_new::regclass);
    RETURN;
  END IF;
  -- enabled on the table and its partitioned partitions, by themselves: a
  -- partition made from now on gets it enabled; the leaves are
  -- conversion_seal_leaves'.  Until none is left disabled: a partitioned
  -- partition made under one of them before it was enabled has it disabled
  LOOP
    SELECT t.relid INTO pm_rel FROM pg_partition_tree(pm_new) t
      JOIN pg_trigger g ON g.tgrelid = t.relid AND g.tgname = 'partmig_reverse_all'
     WHERE NOT t.isleaf AND g.tgenabled = 'D' ORDER BY t.level LIMIT 1;
    EXIT WHEN NOT FOUND;
    EXECUTE format('ALTER TABLE ONLY %s ENABLE ALWAYS TRIGGER partmig_reverse_all', pm_rel::regclass);
  END LOOP;
END
$fn$;

-- The seal, second part: partmig_reverse_all made, enabled, on LEAVES
-- (partitions of the new table; enabled where an earlier sql_version made
-- it disabled), each locked SHARE ROW EXCLUSIVE by itself, briefly;
-- returns on how many.  Partitions without the undo log's other triggers
-- are conversion_seal_fresh's.  The caller scans them (next function)
-- in a later transaction.
CREATE OR REPLACE FUNCTION partmig.conversion_seal_leaves(conversion bigint, leaves oid[])
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  r partmig.conversions;
  pm_leaf oid;
  pm_n integer := 0;
  pm_cloned boolean;
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_undo_target(conversion, leaves);
  r := pm_row.r;
  pm_cloned := EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = pm_row.new_table AND t.tgname = 'partmig_reverse');
  FOREACH pm_leaf IN ARRAY leaves LOOP
    IF EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = pm_leaf AND g.tgname = 'partmig_reverse_all'
                                            AND g.tgenabled = 'D') THEN
      EXECUTE format('ALTER TABLE ONLY %s ENABLE ALWAYS TRIGGER partmig_reverse_all', pm_leaf::regclass);
      pm_n := pm_n + 1;
    ELSIF NOT pm_cloned AND EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = pm_leaf AND g.tgname = 'partmig_reverse')
          AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = pm_leaf AND g.tgname = 'partmig_reverse_all') THEN
      PERFORM partmig.conversion_leaf_triggers(conversion, pm_leaf, format('partmig.conv_%s_quiet', conversion), true);
      pm_n := pm_n + 1;
    END IF;
  END LOOP;
  RETURN pm_n;
END
$fn$;

-- The seal, for partitions made or attached since partmig's triggers were
-- (sql_version 9 and later: the triggers are made on each partition, not
-- cloned from the table): partmig's triggers made, enabled, on those of
-- LEAVES (partitions of the new table) that lack any; returns them.  The
-- caller logs their every row (conversion_undo_scan, ALL_ROWS) in a later
-- transaction: what was written to them before is then in the log too.
CREATE OR REPLACE FUNCTION partmig.conversion_seal_fresh(conversion bigint, leaves oid[])
RETURNS oid[] LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  pm_leaf oid;
  pm_fresh oid[] := '{}';
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_undo_target(conversion, leaves);
  IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = pm_row.new_table AND t.tgname = 'partmig_reverse') THEN
    RETURN pm_fresh; -- swapped by an earlier sql_version: cloned onto every partition
  END IF;
  FOREACH pm_leaf IN ARRAY leaves LOOP
    IF partmig.conversion_leaf_triggers(conversion, pm_leaf, format('partmig.conv_%s_quiet', conversion), true) THEN
      pm_fresh := pm_fresh || pm_leaf;
    END IF;
  END LOOP;
  RETURN pm_fresh;
END
$fn$;

-- The seal, third part: log the rows of LEAVES (partitions of the new
-- table) written since the swap -- every row when ALL_ROWS (the horizon
-- too old to compare with) -- once partmig_reverse_all is committed, in a
-- later transaction: every change is then either logged by it or visible
-- here.  A row's 32-bit xmin is made a full id by age(), which counts from
-- this transaction's own id (txid_current, taken first: age() fixes its
-- reference at its first call in a transaction), so the comparison holds
-- within 2^31 transactions.  Returns the rows logged.
CREATE OR REPLACE FUNCTION partmig.conversion_undo_scan(conversion bigint, leaves oid[], all_rows boolean)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  r partmig.conversions;
  pm_log text := format('%I.%I', 'partmig', format('conv_%s_undo', conversion));
  pm_kl text;
  pm_nkl text;
  pm_leaf oid;
  pm_n bigint;
  pm_total bigint := 0;
  pm_now bigint := txid_current();
  pm_snap text;
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_undo_target(conversion, leaves);
  r := pm_row.r;
  IF r.undo_horizon IS NULL AND NOT all_rows THEN
    RETURN 0;
  END IF;
  pm_snap := coalesce(r.undo_snapshot, format('%s:%s:', r.undo_horizon, r.undo_horizon), '1:1:');
  SELECT string_agg(format('%I', u.k), ', ' ORDER BY u.i), string_agg(format('n.%I', u.k), ', ' ORDER BY u.i)
    INTO pm_kl, pm_nkl
    FROM unnest(r.key_columns) WITH ORDINALITY u (k, i);
  FOREACH pm_leaf IN ARRAY leaves LOOP
    -- pm_x.f: the row's xmin as a full transaction id
    EXECUTE format('INSERT INTO %1$s (%2$s, %3$I) SELECT %4$s, n.%5$I FROM ONLY %6$s n,'
                   ' LATERAL (SELECT $3 - pg_catalog.age(n.xmin) AS f) pm_x'
                   ' WHERE $1 OR (pm_x.f IS DISTINCT FROM $4 AND NOT pg_catalog.txid_visible_in_snapshot(pm_x.f, $2::txid_snapshot))',
                   pm_log, pm_kl, partmig.conversion_log_column(r.key_columns, 'partmig_part'), pm_nkl,
                   r.part_column, pm_leaf::regclass)
      USING all_rows, pm_snap, pm_now, r.undo_swap_xid;
    GET DIAGNOSTICS pm_n = ROW_COUNT;
    pm_total := pm_total + pm_n;
  END LOOP;
  RETURN pm_total;
END
$fn$;

-- For rollback, after the seal: the new table's rows as (key, partition
-- value, fingerprint), gathered into partmig.conv_<id>_keys a few
-- partitions at a time (LEAVES), so that the comparison with the old table
-- (conversion_undo_compare) locks no partition.  LEAVES NULL: make that
-- table afresh, and return whether it is needed at all (not for a
-- conversion swapped by sql_version 7, whose partmig_reverse_move on the
-- table has no OF list).  The fingerprint is the server's own hash of the
-- row's values (hash_record_extended, as finalize's verification) when
-- every column's type has one, else the md5 of the row's text, under the
-- same settings on both sides, pinned here (extra_float_digits above 0: a
-- float's text is exact); the gathered table's column type tells which
-- (bigint or text).  The text costs about three times the hash.
CREATE OR REPLACE FUNCTION partmig.conversion_undo_gather(conversion bigint, leaves oid[])
RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1 SET datestyle = 'ISO, YMD' SET intervalstyle = 'postgres' SET timezone = 'UTC'
SET bytea_output = 'hex' AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  r partmig.conversions;
  pm_new oid;
  pm_keys text := format('%I.%I', 'partmig', format('conv_%s_keys', conversion));
  pm_kl text;
  pm_h text;
  pm_leaf oid;
  pm_typed boolean;
  pm_probe bigint;
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_undo_target(conversion, leaves);
  r := pm_row.r;
  pm_new := pm_row.new_table;
  pm_kl := partmig.conversion_key_part_list(r.key_columns, r.part_column);
  pm_h := partmig.conversion_log_column(r.key_columns || r.part_column, 'partmig_hash');
  IF leaves IS NULL THEN
    EXECUTE format('DROP TABLE IF EXISTS %s', pm_keys);
    IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = pm_new AND t.tgname = 'partmig_reverse_move'
                                            AND t.tgattr::text = '') THEN
      RETURN false;
    END IF;
    -- a type without an extended hash function: the server finds out at
    -- the first row hashed, of the old table (the same types; the new
    -- table's first row would lock every partition); none there: the text
    BEGIN
      EXECUTE format('SELECT %s FROM ONLY %s n LIMIT 1', partmig.conversion_row_hash(r.old_oid, 'n', true), pm_row.tbl)
        INTO pm_probe;
      pm_typed := pm_probe IS NOT NULL;
    EXCEPTION WHEN undefined_function THEN
      pm_typed := false;
    END;
    EXECUTE format('CREATE UNLOGGED TABLE %s AS SELECT %s, NULL::%s AS %I FROM ONLY %s WITH NO DATA',
                   pm_keys, pm_kl, CASE WHEN pm_typed THEN 'bigint' ELSE 'text' END, pm_h, pm_row.tbl);
    RETURN true;
  END IF;
  pm_typed := partmig.conversion_keys_typed(pm_keys, pm_h);
  FOREACH pm_leaf IN ARRAY leaves LOOP
    EXECUTE format('INSERT INTO %s SELECT %s, %s FROM ONLY %s n', pm_keys, pm_kl,
                   partmig.conversion_row_hash(r.old_oid, 'n', pm_typed), pm_leaf::regclass);
  END LOOP;
  RETURN true;
END
$fn$;

-- The fingerprint of a row of ALIAS, whose columns are those of table
-- TBL (the old table; the new one has the same), as an SQL expression:
-- the server's hash of its values when TYPED, else the md5 of its text.
CREATE OR REPLACE FUNCTION partmig.conversion_row_hash(tbl oid, alias text, typed boolean)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT format(CASE WHEN typed THEN 'pg_catalog.hash_record_extended(ROW(%s), 0)' ELSE 'pg_catalog.md5((ROW(%s))::text)' END,
                string_agg(format('%I.%I', alias, a.attname), ', ' ORDER BY a.attnum))
    FROM pg_attribute a WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped
$fn$;
DROP FUNCTION IF EXISTS partmig.conversion_row_text_hash(oid, text);

-- Whether the gathered rows of KEYS (a table) carry the server's hash in
-- column H (bigint), not the md5 of the row's text.
CREATE OR REPLACE FUNCTION partmig.conversion_keys_typed(keys text, h text)
RETURNS boolean LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
  SELECT a.atttypid = 'pg_catalog.int8'::pg_catalog.regtype FROM pg_attribute a
   WHERE a.attrelid = keys::pg_catalog.regclass AND a.attname = h
$fn$;

-- Then: log every (key, partition value) whose row differs between the
-- old table and the new one as gathered -- in the old table alone, in the
-- new one alone, or in both with other contents -- unless the undo log
-- names it already, and drop the gathered rows.  Once sealed, every change
-- is logged: a difference found here went unlogged before the seal or by
-- no trigger (a key changed by a BEFORE UPDATE trigger the UPDATE did not
-- name, a partition detached, written and attached again, a table attached
-- with rows, triggers disabled meanwhile), or is logged anyway.  A key
-- logged is re-copied from the new table, so the old table takes the new
-- one's contents whatever happened to them.  Returns the pairs logged.
CREATE OR REPLACE FUNCTION partmig.conversion_undo_compare(conversion bigint)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1 SET datestyle = 'ISO, YMD' SET intervalstyle = 'postgres' SET timezone = 'UTC'
SET bytea_output = 'hex' AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  r partmig.conversions;
  pm_log text := format('%I.%I', 'partmig', format('conv_%s_undo', conversion));
  pm_keys text := format('%I.%I', 'partmig', format('conv_%s_keys', conversion));
  pm_kp text[];
  pm_kl text;
  pm_join text;
  pm_sel text;
  pm_osel text;
  pm_pk text;
  pm_leq text;
  pm_part text;
  pm_h text;
  pm_n bigint;
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_undo_target(conversion, NULL);
  r := pm_row.r;
  pm_part := partmig.conversion_log_column(r.key_columns, 'partmig_part');
  pm_h := partmig.conversion_log_column(r.key_columns || r.part_column, 'partmig_hash');
  -- the key and partition columns, each once (the key may hold the latter)
  SELECT array_agg(u.k ORDER BY u.i) INTO pm_kp
    FROM (SELECT DISTINCT ON (k) k, i FROM unnest(r.key_columns || r.part_column) WITH ORDINALITY v (k, i)
           ORDER BY k, i) u;
  SELECT string_agg(format('x.%I = o.%I', k, k), ' AND '), string_agg(format('coalesce(o.%I, x.%I) AS %I', k, k, k), ', '),
         string_agg(format('o.%I', k), ', ')
    INTO pm_join, pm_sel, pm_osel
    FROM unnest(pm_kp) k;
  SELECT string_agg(format('%I', u.k), ', ' ORDER BY u.i), string_agg(format('p.%I', u.k), ', ' ORDER BY u.i),
         string_agg(format('l.%I = p.%I', u.k, u.k), ' AND ' ORDER BY u.i)
    INTO pm_kl, pm_pk, pm_leq
    FROM unnest(r.key_columns) WITH ORDINALITY u (k, i);
  EXECUTE format('ANALYZE %s', pm_keys);
  -- p: the pairs whose rows differ, one full join (a pair with a NULL
  -- partition value never matches itself: logged, harmlessly)
  EXECUTE format('INSERT INTO %1$s (%13$s, %3$I) SELECT %2$s, p.%4$I FROM ('
                 ' SELECT %5$s FROM (SELECT %6$s, %7$s AS %8$I FROM ONLY %9$s o) o FULL JOIN %10$s x ON %11$s'
                 '  WHERE o.%8$I IS DISTINCT FROM x.%8$I) p'
                 ' WHERE NOT EXISTS (SELECT 1 FROM %1$s l WHERE %12$s AND l.%3$I = p.%4$I)',
                 pm_log, pm_pk, pm_part, r.part_column, pm_sel, pm_osel,
                 partmig.conversion_row_hash(r.old_oid, 'o', partmig.conversion_keys_typed(pm_keys, pm_h)), pm_h,
                 pm_row.tbl, pm_keys, pm_join, pm_leq, pm_kl);
  GET DIAGNOSTICS pm_n = ROW_COUNT;
  EXECUTE format('DROP TABLE %s', pm_keys);
  RETURN pm_n;
END
$fn$;
DROP FUNCTION IF EXISTS partmig.conversion_undo_vanished(bigint);

-- Re-copy the keys written since the swap from the new table back into
-- the old one, for a rollback; returns the number of keys.  LIM: take the
-- entries of the keys of the first LIM entries (NULL: all); LOCKED: both
-- tables are locked (the swap back), so every entry is taken.  The entries
-- are deleted first, in a statement of their own: a change committed after
-- it leaves an entry for a later round, so the statements that follow may
-- see any later state of a key.  Then, for each (key, partition value) of
-- the batch, the old table's row is deleted and the new table's current
-- rows inserted (the new table read in slices of pm_prune_max distinct
-- pairs, each pruned to its partitions, as in conversion_resync_rows).
-- The old table is nobody's until the swap back, whose locked round takes
-- every entry left.
--
-- By (key, partition value), not by key alone: the new table's key holds
-- the partition column, so the application may have written a second row
-- with a key the old table already has, in another partition.  The old row
-- stays, the new one is refused by the old table's unique index, and the
-- rollback stops, naming the key, instead of keeping one of the two.
CREATE OR REPLACE FUNCTION partmig.conversion_resync_back(conversion bigint, lim integer, locked boolean)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
#variable_conflict use_variable
DECLARE
  pm_log text := format('%I.%I', 'partmig', format('conv_%s_undo', conversion));
  pm_n bigint;
BEGIN
  IF to_regclass(pm_log) IS NULL THEN
    RAISE EXCEPTION 'partmig: conversion % has no undo log', conversion;
  END IF;
  EXECUTE format('SELECT partmig.conversion_resync_back_rows($1, $2, $3, NULL::%s[])', pm_log)
    INTO pm_n USING conversion, lim, locked;
  RETURN pm_n;
END
$fn$;

CREATE OR REPLACE FUNCTION partmig.conversion_resync_back_rows(conversion bigint, lim integer, locked boolean,
                                                               batch_type anyarray)
RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp SET enable_hashjoin = off SET enable_mergejoin = off AS $fn$
#variable_conflict use_variable
DECLARE
  pm_row record;
  r partmig.conversions;
  pm_old text;
  pm_new text;
  pm_log text := format('%I.%I', 'partmig', format('conv_%s_undo', conversion));
  pm_part text;
  pm_nkl text;     -- n.k1, n.k2
  pm_lkl text;     -- l.k1, l.k2
  pm_l2kl text;    -- l2.k1, l2.k2
  pm_xkl text;     -- pm_x.k1, pm_x.k2
  pm_eq text;      -- o.k1 = g.k1 AND ...
  pm_cols text;
  pm_ncols text;
  pm_overriding text := '';
  pm_batch batch_type%TYPE;
  pm_pairs batch_type%TYPE;
  pm_slice batch_type%TYPE;
  pm_c integer;
  pm_n bigint;
  pm_in text := '';
  pm_prune_max constant integer := 1000;
BEGIN
  SELECT * INTO pm_row FROM partmig.conversion_row(conversion);
  r := pm_row.r;
  pm_old := pm_row.tbl;
  IF r.state <> 'swapped' THEN
    RAISE EXCEPTION 'partmig: conversion % is in state %, not swapped', conversion, r.state;
  END IF;
  pm_new := format('%I.%I', r.table_schema, r.table_name);
  IF to_regclass(pm_new) IS NULL OR to_regclass(pm_new) = r.old_oid THEN
    RAISE EXCEPTION 'partmig: conversion %: % is not the new table', conversion, pm_new;
  END IF;
  IF pg_typeof(batch_type) <> format('%s[]', pm_log)::regtype THEN
    RAISE EXCEPTION 'partmig: conversion %: the batch is of type %, not %[]', conversion, pg_typeof(batch_type), pm_log;
  END IF;
  pm_part := format('%I', partmig.conversion_log_column(r.key_columns, 'partmig_part'));
  SELECT string_agg(format('n.%I', u.k), ', ' ORDER BY u.i), string_agg(format('pm_x.%I', u.k), ', ' ORDER BY u.i),
         string_agg(format('o.%I = g.%I', u.k, u.k), ' AND ' ORDER BY u.i),
         string_agg(format('l.%I', u.k), ', ' ORDER BY u.i), string_agg(format('l2.%I', u.k), ', ' ORDER BY u.i)
    INTO pm_nkl, pm_xkl, pm_eq, pm_lkl, pm_l2kl
    FROM unnest(r.key_columns) WITH ORDINALITY u (k, i);
  SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum),
         string_agg(format('n.%I', a.attname), ', ' ORDER BY a.attnum),
         CASE WHEN bool_or(a.attidentity <> '') THEN ' OVERRIDING SYSTEM VALUE' ELSE '' END
    INTO pm_cols, pm_ncols, pm_overriding
    FROM pg_attribute a WHERE a.attrelid = r.old_oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
  IF locked OR lim IS NULL THEN
    EXECUTE format('WITH d AS (DELETE FROM %1$s l RETURNING l.*) SELECT array_agg(ROW(d.*)::%1$s) FROM d', pm_log)
      INTO pm_batch;
  ELSE
    EXECUTE format('WITH d AS (DELETE FROM %1$s l WHERE (%2$s) IN (SELECT %3$s FROM %1$s l2 LIMIT $1)'
                   ' RETURNING l.*) SELECT array_agg(ROW(d.*)::%1$s) FROM d', pm_log, pm_lkl, pm_l2kl)
      INTO pm_batch USING lim;
  END IF;
  IF pm_batch IS NULL THEN
    RETURN 0;
  END IF;
  EXECUTE format('DELETE FROM %1$s o USING (SELECT DISTINCT %2$s, pm_x.%3$s FROM unnest($1) pm_x) g'
                 ' WHERE %4$s AND o.%5$I = g.%3$s',
                 pm_old, pm_xkl, pm_part, pm_eq, r.part_column)
    USING pm_batch;
  -- each (key, partition value) once, in slices of pm_prune_max, each
  -- planned in its partitions only
  EXECUTE 'SELECT array_agg(DISTINCT pm_x) FROM unnest($1) pm_x' INTO pm_pairs USING pm_batch;
  FOR pm_c IN 0 .. (cardinality(pm_pairs) - 1) / pm_prune_max LOOP
    pm_slice := pm_pairs[pm_c * pm_prune_max + 1 : (pm_c + 1) * pm_prune_max];
    SELECT format(' AND n.%I IN (%s)', r.part_column, string_agg(format('($1[%s]).%s', i, pm_part), ', ' ORDER BY i))
      INTO pm_in FROM generate_series(1, cardinality(pm_slice)) i;
    EXECUTE format('INSERT INTO %1$s (%2$s)%3$s SELECT %4$s FROM %5$s n'
                   ' WHERE (%6$s, n.%7$I) IN (SELECT %8$s, pm_x.%9$s FROM unnest($1) pm_x)%10$s',
                   pm_old, pm_cols, pm_overriding, pm_ncols, pm_new, pm_nkl, r.part_column, pm_xkl, pm_part, pm_in)
      USING pm_slice;
  END LOOP;
  EXECUTE format('SELECT count(*) FROM (SELECT DISTINCT %s FROM unnest($1) pm_x) k', pm_xkl)
    INTO pm_n USING pm_batch;
  RETURN pm_n;
END
$fn$;

REVOKE ALL ON FUNCTION partmig.conversion_log_column(text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_key_part_list(text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_set_keys(bigint, text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_row(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_make_log(bigint, text, boolean, oid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_install_capture(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_resync(bigint, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_resync_rows(bigint, integer, boolean, anyarray) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_install_undo_log(bigint, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_make_undo_log(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_resync_back(bigint, integer, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_seal_undo_log(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_undo_scan(bigint, oid[], boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_seal_leaves(bigint, oid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_seal_fresh(bigint, oid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_leaf_triggers(bigint, oid, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_undo_target(bigint, oid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_undo_gather(bigint, oid[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_undo_compare(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_row_hash(oid, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_keys_typed(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION partmig.conversion_resync_back_rows(bigint, integer, boolean, anyarray) FROM PUBLIC;
