-- conversion_test.sql: pgTAP tests of sql/conversion.sql's functions on a
-- table whose names are hostile (quotes, spaces, capitals, SQL in a name,
-- columns named like the functions' variables and like the change log's
-- own columns), run by tests/integration/sql_pgtap.sh after both SQL files
-- are loaded.  Not one transaction: a second session (dblink) must see
-- the table to hold a row lock; everything is dropped at the end.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE SCHEMA "Tab ""Sch""";
CREATE TABLE "Tab ""Sch"""."Odd ""T"" x" (
    "I d" bigint NOT NULL,
    partmig_part text NOT NULL,          -- a key column with the log's own name
    "At" timestamptz NOT NULL,           -- the partition column
    pm_last integer,                     -- named like the re-copy's variables
    conversion text,
    r text,
    "x""); DROP TABLE t; --" text,
    "Seq" bigint GENERATED ALWAYS AS IDENTITY,
    doubled integer GENERATED ALWAYS AS (pm_last * 2) STORED,
    PRIMARY KEY ("I d", partmig_part));
INSERT INTO "Tab ""Sch"""."Odd ""T"" x" ("I d", partmig_part, "At", pm_last, conversion, r, "x""); DROP TABLE t; --")
SELECT g, 'k' || g, timestamptz '2025-01-01 UTC' + g * interval '10 days', g, 'c', 'r', 'x'
  FROM generate_series(1, 20) g;
-- the new table, filled as the copy would
CREATE TABLE "Tab ""Sch"""."Odd ""T"" x new" (LIKE "Tab ""Sch"""."Odd ""T"" x" INCLUDING DEFAULTS INCLUDING GENERATED
    INCLUDING IDENTITY) PARTITION BY RANGE ("At");
ALTER TABLE "Tab ""Sch"""."Odd ""T"" x new" ADD PRIMARY KEY ("I d", partmig_part, "At");
CREATE TABLE "Tab ""Sch""".p1 PARTITION OF "Tab ""Sch"""."Odd ""T"" x new"
    FOR VALUES FROM ('2025-01-01 UTC') TO ('2025-04-01 UTC');
CREATE TABLE "Tab ""Sch""".p2 PARTITION OF "Tab ""Sch"""."Odd ""T"" x new"
    FOR VALUES FROM ('2025-04-01 UTC') TO ('2026-01-01 UTC');
INSERT INTO "Tab ""Sch"""."Odd ""T"" x new" ("I d", partmig_part, "At", pm_last, conversion, r, "x""); DROP TABLE t; --", "Seq")
    OVERRIDING SYSTEM VALUE
SELECT "I d", partmig_part, "At", pm_last, conversion, r, "x""); DROP TABLE t; --", "Seq" FROM "Tab ""Sch"""."Odd ""T"" x";
INSERT INTO partmig.conversions (table_schema, table_name, method, state, old_oid, shadow_name, kept_name)
VALUES ('Tab "Sch"', 'Odd "T" x', 'copy', 'shadow_created', '"Tab ""Sch"""."Odd ""T"" x"'::regclass, 'Odd "T" x new',
        'Odd "T" x old')
RETURNING id AS cid, format('partmig.%I', format('conv_%s_log', id)) AS log,
          format('partmig.%I()', format('conv_%s_capture', id)) AS capture \gset
CREATE TABLE public.other (id bigint, at timestamptz);
CREATE ROLE pgtap_app;
GRANT USAGE ON SCHEMA "Tab ""Sch""" TO pgtap_app;
GRANT ALL ON ALL TABLES IN SCHEMA "Tab ""Sch""" TO pgtap_app;
-- the rows of the old and the new table, for comparing them
CREATE VIEW public.old_rows AS SELECT "I d", partmig_part, "At", pm_last, conversion, r, "x""); DROP TABLE t; --", "Seq",
    doubled FROM "Tab ""Sch"""."Odd ""T"" x";
CREATE VIEW public.new_rows AS SELECT "I d", partmig_part, "At", pm_last, conversion, r, "x""); DROP TABLE t; --", "Seq",
    doubled FROM "Tab ""Sch"""."Odd ""T"" x new";

SELECT plan(77);

-- the keys, recorded with their types from the catalog
SELECT throws_ok(format('SELECT partmig.conversion_set_keys(%s, ARRAY[''I d'', ''nope''], ''At'')', :cid),
                 'P0001', NULL, 'a key column the table lacks is refused');
SELECT lives_ok(format('SELECT partmig.conversion_set_keys(%s, ARRAY[''I d'', ''partmig_part''], ''At'')', :cid),
                'conversion_set_keys records the key');
SELECT results_eq(format('SELECT key_columns, key_types, part_column, part_type, log_name FROM partmig.conversions WHERE id = %s', :cid),
                  format($$VALUES (ARRAY['I d', 'partmig_part'], ARRAY['bigint', 'text'], 'At'::text,
                           'timestamp with time zone'::text, 'conv_%s_log'::text)$$, :cid),
                  'key columns, their types, the partition column and the log name are recorded');
SELECT is(partmig.conversion_log_column(ARRAY['partmig_seq', 'partmig_seq_'], 'partmig_seq'), 'partmig_seq__',
          'the log''s own column steps aside from every key column');

-- the change capture
SELECT lives_ok(format('SELECT partmig.conversion_install_capture(%s)', :cid), 'conversion_install_capture runs');
SELECT has_table('partmig', format('conv_%s_log', :cid), 'the change log exists');
SELECT columns_are('partmig', format('conv_%s_log', :cid), ARRAY['partmig_seq', 'I d', 'partmig_part', 'partmig_part_'],
                   'the log holds the key under its own names, its own columns step aside');
SELECT has_function('partmig', format('conv_%s_capture', :cid), '{}'::name[], 'the capture function exists');
SELECT is_definer('partmig', format('conv_%s_capture', :cid), '{}'::name[], 'the capture function is SECURITY DEFINER');
SELECT ok((SELECT 'search_path=pg_catalog, pg_temp' = ANY (proconfig) FROM pg_proc
            WHERE oid = format('partmig.conv_%s_capture()', :cid)::regprocedure), 'the capture function sets search_path');
SELECT ok(NOT has_function_privilege('pgtap_app', format('partmig.conv_%s_capture()', :cid), 'EXECUTE'),
          'nobody else may execute the capture function');
SELECT has_trigger('Tab "Sch"', 'Odd "T" x', 'partmig_capture', 'the capture trigger is on the table');
SELECT has_trigger('Tab "Sch"', 'Odd "T" x', 'partmig_no_truncate', 'the TRUNCATE guard is on the table');
SELECT is((SELECT string_agg(tgenabled::text, '' ORDER BY tgname) FROM pg_trigger
            WHERE tgrelid = '"Tab ""Sch"""."Odd ""T"" x"'::regclass AND tgname IN ('partmig_capture', 'partmig_no_truncate')), 'AA',
          'both fire ALWAYS, under session_replication_role = replica too');

-- writes while the rows are copied: update, delete, insert, a row moved to another partition,
-- made as logical replication's apply worker makes them (the triggers fire ALWAYS)
SET session_replication_role = replica;
UPDATE "Tab ""Sch"""."Odd ""T"" x" SET r = 'changed', pm_last = -1 WHERE "I d" = 3;
DELETE FROM "Tab ""Sch"""."Odd ""T"" x" WHERE "I d" = 4;
INSERT INTO "Tab ""Sch"""."Odd ""T"" x" ("I d", partmig_part, "At", pm_last, r) VALUES (21, 'k21', '2025-02-01 UTC', 21, 'new');
UPDATE "Tab ""Sch"""."Odd ""T"" x" SET "At" = '2025-09-01 UTC' WHERE "I d" = 5;
UPDATE "Tab ""Sch"""."Odd ""T"" x" SET partmig_part = 'k6b' WHERE "I d" = 6;
RESET session_replication_role;
SELECT is((SELECT (x.r).id FROM partmig.conversion_row(:cid) x), :cid::bigint, 'conversion_row finds the conversion');
SELECT is(partmig.conversion_resync(:cid, 1000, false), 6::bigint, 'the re-copy takes the six changed keys');
SELECT results_eq('SELECT * FROM public.new_rows ORDER BY 1, 2', 'SELECT * FROM public.old_rows ORDER BY 1, 2',
                  'the new table holds the old one''s rows: changed keys copied, deleted keys deleted');
SELECT is((SELECT count(*) FROM public.new_rows WHERE "I d" = 4), 0::bigint, 'the key deleted in the old table is gone');
SELECT is((SELECT count(*) FROM "Tab ""Sch""".p2 WHERE "I d" = 5), 1::bigint, 'the moved row is in its new partition');
SELECT is(partmig.conversion_resync(:cid, 1000, false), 0::bigint, 'nothing is left to re-copy');

-- a row locked by a writer waits in the log for a later round
UPDATE "Tab ""Sch"""."Odd ""T"" x" SET r = 'locked' WHERE "I d" = 7;
UPDATE "Tab ""Sch"""."Odd ""T"" x" SET r = 'free' WHERE "I d" = 8;
SELECT dblink_connect('writer', format('host=%s port=%s dbname=%s user=%s', current_setting('unix_socket_directories'),
                      current_setting('port'), current_database(), current_user));
SELECT dblink_exec('writer', 'BEGIN');
SELECT * FROM dblink('writer', 'SELECT r FROM "Tab ""Sch"""."Odd ""T"" x" WHERE "I d" = 7 FOR UPDATE') AS t (r text);
SELECT is(partmig.conversion_resync(:cid, 1000, false), 1::bigint, 'the re-copy skips the locked row');
SELECT is((SELECT r FROM public.new_rows WHERE "I d" = 8), 'free', 'the free row is copied');
SELECT is((SELECT r FROM public.new_rows WHERE "I d" = 7), 'r', 'the locked row is not copied yet');
SELECT is((SELECT count(*) FROM :log), 1::bigint, 'its key waits in the log');
SELECT dblink_exec('writer', 'COMMIT');
SELECT dblink_disconnect('writer');
SELECT is(partmig.conversion_resync(:cid, 1000, false), 1::bigint, 'once free, the row is re-copied');
SELECT is((SELECT r FROM public.new_rows WHERE "I d" = 7), 'locked', 'with its last change');

-- under the swap's lock: every entry, no row lock; a small batch's DELETE
-- is planned (and takes locks) only in the batch's partitions (here p2)
BEGIN;
UPDATE "Tab ""Sch"""."Odd ""T"" x" SET r = 'last' WHERE "I d" IN (9, 10);
SELECT is(partmig.conversion_resync(:cid, NULL, true), 2::bigint, 'the locked re-copy takes every entry');
SELECT is((SELECT array_agg(c.relname::text ORDER BY c.relname) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE l.pid = pg_backend_pid() AND c.relname IN ('p1', 'p2')), ARRAY['p2'],
          'the re-copy of a small batch touches only its partitions');
COMMIT;
SELECT results_eq('SELECT * FROM public.new_rows ORDER BY 1, 2', 'SELECT * FROM public.old_rows ORDER BY 1, 2',
                  'the tables agree after the last round');
-- more entries than a slice (pm_prune_max, 1,000): the DELETE runs slice by slice
INSERT INTO "Tab ""Sch"""."Odd ""T"" x" ("I d", partmig_part, "At", pm_last, r)
SELECT g, 'k' || g, timestamptz '2025-01-01 UTC' + (g % 300) * interval '1 day', g, 'many'
  FROM generate_series(100, 1299) g;
UPDATE "Tab ""Sch"""."Odd ""T"" x" SET r = 'many again', "At" = "At" + interval '1 hour'
 WHERE "I d" BETWEEN 100 AND 1299 AND "I d" % 3 = 0;
SELECT is(partmig.conversion_resync(:cid, NULL, true), 1200::bigint, 'a batch of 2,000 entries is re-copied in slices');
SELECT results_eq('SELECT * FROM public.new_rows ORDER BY 1, 2', 'SELECT * FROM public.old_rows ORDER BY 1, 2',
                  'the tables agree after it');

-- after the swap: the undo log, made on the new table before it
SELECT format('partmig.%I', format('conv_%s_undo', :cid)) AS undo,
       format('partmig.%I()', format('conv_%s_reverse', :cid)) AS reverse \gset
SELECT lives_ok(format('SELECT partmig.conversion_install_undo_log(%s, %L)', :cid, 'partmig.quiet_test'),
                'the undo log and its trigger are made on the new table');
SET partmig.quiet_test = 'on';
UPDATE "Tab ""Sch"""."Odd ""T"" x new" SET r = 'quiet' WHERE "I d" = 11;
SET partmig.quiet_test = '';
UPDATE "Tab ""Sch"""."Odd ""T"" x" SET r = 'quiet' WHERE "I d" = 11;
SELECT is((SELECT count(*) FROM :undo), 0::bigint, 'the trigger is silent in a session with the quiet setting');
SELECT throws_like(format('SELECT partmig.conversion_resync_back(%s, 10, false)', :cid), '%not swapped%',
                   'nothing is re-copied back before the swap');
-- the swap, as far as these functions see it
ALTER TABLE "Tab ""Sch"""."Odd ""T"" x" RENAME TO "Odd ""T"" x old";
ALTER TABLE "Tab ""Sch"""."Odd ""T"" x new" RENAME TO "Odd ""T"" x";
UPDATE partmig.conversions SET state = 'swapped', undo_horizon = txid_snapshot_xmin(txid_current_snapshot()),
       undo_snapshot = txid_current_snapshot()::text, undo_swap_xid = txid_current()
 WHERE id = :cid;
-- as the application, and as a replication apply worker would
SET session_replication_role = replica;
SET ROLE pgtap_app;
UPDATE "Tab ""Sch"""."Odd ""T"" x" SET r = 'after' WHERE "I d" = 12;
UPDATE "Tab ""Sch"""."Odd ""T"" x" SET "At" = '2025-10-01 UTC' WHERE "I d" = 2;
DELETE FROM "Tab ""Sch"""."Odd ""T"" x" WHERE "I d" = 13;
INSERT INTO "Tab ""Sch"""."Odd ""T"" x" ("I d", partmig_part, "At", pm_last, r) VALUES (30, 'k30', '2025-03-01 UTC', 30, 'in');
UPDATE "Tab ""Sch"""."Odd ""T"" x" SET partmig_part = 'k3b' WHERE "I d" = 3;
RESET ROLE;
RESET session_replication_role;
SELECT is((SELECT array_agg(DISTINCT "I d" ORDER BY "I d") FROM :undo), ARRAY[2, 3, 13]::bigint[],
          'until the seal the undo log names only what moved or went: partition change, key change, delete');
SELECT is((SELECT count(DISTINCT ("I d", partmig_part)) FROM :undo), 4::bigint, 'a key change: both keys');
SELECT is((SELECT string_agg(y.x, ',' ORDER BY y.x) FROM (SELECT g.tgname || ':' || g.tgenabled::text || ':' || count(*) x FROM pg_trigger g
             JOIN pg_partition_tree('"Tab ""Sch"""."Odd ""T"" x"') t ON t.relid = g.tgrelid
            WHERE t.isleaf AND g.tgname LIKE 'partmig\_reverse%' GROUP BY g.tgname, g.tgenabled) y),
          'partmig_reverse:A:2,partmig_reverse_move:A:2',
          'on each partition: the delete and key-move triggers, ALWAYS (the seal''s is the seal''s to make)');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = '"Tab ""Sch"""."Odd ""T"" x"'::regclass AND tgname LIKE 'partmig\_reverse%'),
          0::bigint, 'none on the table (dropping one there would lock every partition at once)');
SELECT is((SELECT array_agg(DISTINCT array_length(tgattr::int2[], 1)) FROM pg_trigger WHERE tgname = 'partmig_reverse_move'),
          ARRAY[3], 'partmig_reverse_move is UPDATE OF the key and partition columns, each once');
-- the seal: every change logged from now on, then the rows written since the horizon
-- a partition with partitions of its own, made before the seal
CREATE TABLE "Tab ""Sch""".p3 PARTITION OF "Tab ""Sch"""."Odd ""T"" x"
    FOR VALUES FROM ('2026-01-01 UTC') TO ('2027-01-01 UTC') PARTITION BY RANGE ("At");
CREATE TABLE "Tab ""Sch""".p3a PARTITION OF "Tab ""Sch""".p3 FOR VALUES FROM ('2026-01-01 UTC') TO ('2026-07-01 UTC');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid IN ('"Tab ""Sch""".p3'::regclass, '"Tab ""Sch""".p3a'::regclass)),
          0::bigint, 'a partition made since has none of them');
SELECT lives_ok(format('SELECT partmig.conversion_seal_undo_log(%s)', :cid), 'the seal''s first part');
SELECT is((SELECT count(*) FROM pg_trigger WHERE tgrelid = '"Tab ""Sch"""."Odd ""T"" x"'::regclass AND tgname LIKE 'partmig\_reverse%'),
          0::bigint, 'touches nothing on the table');
SELECT throws_like(format('SELECT partmig.conversion_seal_leaves(%s, ARRAY[%s]::oid[])', :cid,
                          '"Tab ""Sch"""."Odd ""T"" x old"'::regclass::oid),
                   '%is not a partition of%', 'the seal touches only the new table''s partitions');
SELECT is(partmig.conversion_seal_leaves(:cid, (SELECT array_agg(relid::oid) FROM pg_partition_tree('"Tab ""Sch"""."Odd ""T"" x"')
                                                WHERE isleaf)), 2, 'the seal makes partmig_reverse_all on the leaves, a batch at a time');
SELECT is(partmig.conversion_seal_fresh(:cid, (SELECT array_agg(relid::oid ORDER BY relid) FROM pg_partition_tree('"Tab ""Sch"""."Odd ""T"" x"')
                                               WHERE isleaf)), ARRAY['"Tab ""Sch""".p3a'::regclass::oid],
          'and makes them, enabled, on a partition made since, naming it (its every row is logged)');
SELECT is((SELECT string_agg(tgenabled::text, '') FROM pg_trigger WHERE tgname = 'partmig_reverse_all'
            AND tgrelid IN (SELECT relid FROM pg_partition_tree('"Tab ""Sch"""."Odd ""T"" x"'))), 'AAA',
          'enabled ALWAYS (under session_replication_role = replica too) on each partition');
CREATE TABLE "Tab ""Sch""".p3b PARTITION OF "Tab ""Sch""".p3 FOR VALUES FROM ('2026-07-01 UTC') TO ('2027-01-01 UTC');
SELECT is(partmig.conversion_seal_fresh(:cid, (SELECT array_agg(relid::oid) FROM pg_partition_tree('"Tab ""Sch"""."Odd ""T"" x"')
                                               WHERE isleaf)), ARRAY['"Tab ""Sch""".p3b'::regclass::oid],
          'a partition made after the seal gets them at the next');
SELECT is((SELECT tgenabled::text FROM pg_trigger WHERE tgname = 'partmig_reverse_all' AND tgrelid = '"Tab ""Sch""".p3b'::regclass),
          'A', 'enabled ALWAYS');
DROP TABLE "Tab ""Sch""".p3;
SELECT lives_ok(format('SELECT partmig.conversion_seal_undo_log(%s)', :cid), 'sealing twice changes nothing');
SELECT is(partmig.conversion_seal_leaves(:cid, (SELECT array_agg(relid::oid) FROM pg_partition_tree('"Tab ""Sch"""."Odd ""T"" x"')
                                                WHERE isleaf)), 0, 'nor on the partitions');
SELECT throws_like(format('SELECT partmig.conversion_undo_scan(%s, ARRAY[%s]::oid[], false)', :cid,
                          '"Tab ""Sch"""."Odd ""T"" x old"'::regclass::oid),
                   '%is not a partition of%', 'the scan reads only the new table''s partitions');
SELECT is(partmig.conversion_undo_scan(:cid, (SELECT array_agg(relid::oid) FROM pg_partition_tree('"Tab ""Sch"""."Odd ""T"" x"')
                                              WHERE isleaf), false), 4::bigint,
          'the scan logs the rows written since the horizon: in place, inserted, moved, key changed');
SELECT is((SELECT count(DISTINCT ("I d", partmig_part)) FROM :undo), 6::bigint,
          'the undo log names the keys the application wrote since the swap (a key change: both), row 11 (before it) not');
SELECT is(partmig.conversion_resync_back(:cid, 1, false), 1::bigint, 'a round takes the keys of its first entries');
SELECT is(partmig.conversion_resync_back(:cid, 1000, false), 5::bigint, 'the next takes the rest');
SELECT results_eq('SELECT * FROM public.old_rows ORDER BY 1, 2', 'SELECT * FROM public.new_rows ORDER BY 1, 2',
                  'the old table holds the new one''s rows again: in place, moved, deleted, inserted, key changed');
SELECT is(partmig.conversion_resync_back(:cid, 1000, false), 0::bigint, 'nothing is left to re-copy back');
-- rows gone, changed or added unseen by the triggers (a key a BEFORE UPDATE
-- trigger changed unnamed, a partition detached, written and attached
-- again, a table attached with rows, the triggers disabled meanwhile):
-- rollback's comparison of the two tables logs them
SET partmig.quiet_test = 'on';
DELETE FROM "Tab ""Sch"""."Odd ""T"" x" WHERE "I d" = 12;
SET partmig.quiet_test = '';
ALTER TABLE "Tab ""Sch""".p1 DISABLE TRIGGER partmig_reverse_all;
ALTER TABLE "Tab ""Sch""".p2 DISABLE TRIGGER partmig_reverse_all;
UPDATE "Tab ""Sch"""."Odd ""T"" x" SET r = 'unseen' WHERE "I d" = 16;
INSERT INTO "Tab ""Sch"""."Odd ""T"" x" ("I d", partmig_part, "At", pm_last, r) VALUES (40, 'k40', '2025-02-01 UTC', 40, 'unseen');
ALTER TABLE "Tab ""Sch""".p1 ENABLE ALWAYS TRIGGER partmig_reverse_all;
ALTER TABLE "Tab ""Sch""".p2 ENABLE ALWAYS TRIGGER partmig_reverse_all;
SELECT is((SELECT count(*) FROM :undo WHERE "I d" IN (12, 16, 40)), 0::bigint, 'none of the three is logged');
SELECT is(partmig.conversion_undo_gather(:cid, NULL), true, 'rollback gathers the new table''s keys (its key-move trigger is UPDATE OF)');
SELECT throws_like(format('SELECT partmig.conversion_undo_gather(%s, ARRAY[%s]::oid[])', :cid,
                          '"Tab ""Sch"""."Odd ""T"" x old"'::regclass::oid),
                   '%is not a partition of%', 'the gathering reads only the new table''s partitions');
SELECT lives_ok(format('SELECT partmig.conversion_undo_gather(%s, %L::oid[])', :cid,
                       (SELECT array_agg(relid::oid) FROM pg_partition_tree('"Tab ""Sch"""."Odd ""T"" x"') WHERE isleaf)),
                'a batch of partitions at a time');
SELECT is(partmig.conversion_undo_compare(:cid), 3::bigint, 'the comparison logs the keys whose rows differ: gone, changed, added');
SELECT is((SELECT array_agg("I d" ORDER BY "I d") FROM :undo), ARRAY[12, 16, 40]::bigint[], 'those keys, and nothing else');
SELECT ok(to_regclass(format('partmig.%I', format('conv_%s_keys', :cid))) IS NULL, 'the gathered keys are dropped');
SELECT is(partmig.conversion_resync_back(:cid, 1000, false), 3::bigint, 'a round re-copies them back');
SELECT results_eq('SELECT * FROM public.old_rows ORDER BY 1, 2', 'SELECT * FROM public.new_rows ORDER BY 1, 2',
                  'the old table holds the new one''s rows again: the lost row gone, the changed one changed, the added one added');
-- a row repeating a key of the old table in another partition (the new
-- table's key holds the partition column) is refused, not half-kept
INSERT INTO "Tab ""Sch"""."Odd ""T"" x" ("I d", partmig_part, "At", pm_last, r) VALUES (14, 'k14', '2025-11-01 UTC', 14, 'twice');
SELECT throws_ok(format('SELECT partmig.conversion_resync_back(%s, NULL, true)', :cid), '23505', NULL,
                 'the old table''s key refuses the repeated key');
SELECT is((SELECT r FROM public.old_rows WHERE "I d" = 14), 'r', 'the old row of that key stays');
DELETE FROM "Tab ""Sch"""."Odd ""T"" x" WHERE r = 'twice';
-- under the swap back's lock: a small batch is planned only in its partitions
BEGIN;
UPDATE "Tab ""Sch""".p2 SET r = 'last' WHERE "I d" IN (15, 16);
SELECT is(partmig.conversion_resync_back(:cid, NULL, true), 3::bigint, 'the locked round takes every entry');
SELECT is((SELECT array_agg(DISTINCT c.relname::text) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE l.pid = pg_backend_pid() AND c.relname IN ('p1', 'p2')), ARRAY['p2'],
          'the re-copy back of a small batch touches only its partitions');
COMMIT;
SELECT results_eq('SELECT * FROM public.old_rows ORDER BY 1, 2', 'SELECT * FROM public.new_rows ORDER BY 1, 2',
                  'the tables agree after the locked round');
SELECT throws_like(format('SELECT partmig.conversion_resync_back_rows(%s, 10, false, NULL::integer[])', :cid),
                   '%the batch is of type integer[]%', 'the re-copy back''s worker takes only the undo log''s row type');
-- back to the names before the swap, for the tests below
ALTER TABLE "Tab ""Sch"""."Odd ""T"" x" RENAME TO "Odd ""T"" x new";
ALTER TABLE "Tab ""Sch"""."Odd ""T"" x old" RENAME TO "Odd ""T"" x";
UPDATE partmig.conversions SET state = 'shadow_created' WHERE id = :cid;

SELECT throws_like(format('SELECT partmig.conversion_resync_rows(%s, 10, false, NULL::integer[])', :cid),
                   '%the batch is of type integer[]%', 'the re-copy''s worker takes only the log''s row type');

-- the trigger functions act only where they belong
SELECT lives_ok(format('CREATE TRIGGER x AFTER INSERT ON public.other FOR EACH ROW EXECUTE FUNCTION partmig.conv_%s_capture()', :cid),
                'the capture function can be attached elsewhere by its owner ...');
SELECT throws_like('INSERT INTO public.other VALUES (1, now())', '%is not for table%',
                   '... but refuses to act for another table');
SELECT throws_like('TRUNCATE "Tab ""Sch"""."Odd ""T"" x"', '%TRUNCATE is refused%', 'the guard refuses TRUNCATE');
UPDATE partmig.conversions SET state = 'finalized' WHERE id = :cid;
SELECT lives_ok('TRUNCATE "Tab ""Sch"""."Odd ""T"" x"', 'the guard is inert once the conversion is finalized');

SELECT * FROM finish();

DROP VIEW public.old_rows, public.new_rows;
DROP TABLE public.other;
DROP SCHEMA "Tab ""Sch""" CASCADE;
DROP TABLE :log;
DROP FUNCTION :capture;
DROP TABLE :undo;
DROP FUNCTION :reverse;
DELETE FROM partmig.conversions;
DROP ROLE pgtap_app;
