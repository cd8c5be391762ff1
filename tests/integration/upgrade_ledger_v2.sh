#!/usr/bin/env bash
# upgrade_ledger_v2.sh: a ledger the previous release made (ledger version
# 2, before sql/*.sql: no sql_version, the conversion's re-copy and TRUNCATE
# guard generated per conversion) with a copy conversion killed while
# copying (state backfilling, changes waiting in its log) is upgraded by
# this binary, which then finishes the conversion: the SQL files run once
# (meta versions, new columns, functions), the conversion resumes with the
# generic re-copy, the old per-conversion functions go with the capture,
# finalize removes the rest.  The fixture is that release's own output
# (tests/fixtures/ledger_v2/make.sh).
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
FX=tests/fixtures/ledger_v2
psql -X -q -v ON_ERROR_STOP=1 -f "$FX/dump.sql" >/dev/null
# a restore gives the table another oid: put the conversion's (and the old
# capture function's guard) right, as in the database the fixture came from
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
DO $$
DECLARE
  was oid := (SELECT old_oid FROM partmig.conversions WHERE id = 1);
  now_ oid := 'public.orders'::regclass;
BEGIN
  UPDATE partmig.conversions SET old_oid = now_ WHERE id = 1;
  EXECUTE replace(pg_get_functiondef('partmig.conv_1_capture()'::regprocedure), was || '::pg_catalog.oid',
                  now_ || '::pg_catalog.oid');
END $$;
SQL
assert_eq "$(psql_q "SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM partmig.meta")" "ledger_version=2" "the old ledger: version 2, no sql_version"
assert_eq "$(psql_q "SELECT state FROM partmig.conversions WHERE id = 1")" backfilling "the conversion was stopped while copying"
assert_eq "$(psql_q "SELECT to_regprocedure('partmig.conv_1_resync(integer, boolean)') IS NOT NULL")" t "with the old per-conversion re-copy function"
# the old trigger still captures; more changes wait for the re-copy
psql_q "UPDATE public.orders SET note = 'changed after the upgrade' WHERE id IN (12, 950); DELETE FROM public.orders WHERE id = 13"
assert_eq "$(psql_q "SELECT count(DISTINCT id) FROM partmig.conv_1_log")" 7 "changed keys wait in the old log"

run_cmd "$PARTMIG" apply -d "$FX/migrations"
assert_eq "$RC" 0 "this binary resumes and finishes the conversion ($ERR)"
want=$(head -20 sql/ledger.sql | sed -n 's/^-- partmig sql_version: \([0-9]*\)$/\1/p')
assert_eq "$(psql_q "SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM partmig.meta")" "ledger_version=2,sql_version=$want" "meta records the SQL files' version"
assert_eq "$(psql_q "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'partmig' AND table_name = 'conversions' AND column_name IN ('key_columns', 'key_types', 'part_column', 'part_type', 'log_name')")" 5 "conversions has the new columns"
assert_eq "$(psql_q "SELECT key_columns::text || ' ' || key_types::text || ' ' || part_column || ' ' || part_type || ' ' || log_name FROM partmig.conversions WHERE id = 1")" "{id} {bigint} at timestamp with time zone conv_1_log" "the resumed conversion recorded its keys"
assert_eq "$(psql_q "SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc WHERE pronamespace = 'partmig'::regnamespace AND proname LIKE 'conversion\_%'")" "conversion_guard,conversion_install_capture,conversion_install_undo_log,conversion_key_part_list,conversion_keys_typed,conversion_leaf_triggers,conversion_log_column,conversion_make_log,conversion_make_undo_log,conversion_resync,conversion_resync_back,conversion_resync_back_rows,conversion_resync_rows,conversion_row,conversion_row_hash,conversion_seal_fresh,conversion_seal_leaves,conversion_seal_undo_log,conversion_set_keys,conversion_undo_compare,conversion_undo_gather,conversion_undo_scan,conversion_undo_target" "the functions of sql/conversion.sql are there"
assert_eq "$(psql_q "SELECT to_regclass('partmig.retention_log') IS NOT NULL")" t "retention_log is made with the ledger"
assert_eq "$(psql_q "SELECT to_regprocedure('partmig.conv_1_resync(integer, boolean)') IS NULL AND to_regprocedure('partmig.conv_1_capture()') IS NULL AND to_regclass('partmig.conv_1_log') IS NULL")" t "the old re-copy function went with the capture objects"
assert_eq "$(psql_q "SELECT state FROM partmig.conversions WHERE id = 1")" swapped "the conversion is swapped"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" p "public.orders is partitioned"
assert_eq "$(psql_q "SELECT count(*) FROM public.orders")" 999 "1000 rows + 1 inserted - 2 deleted"
assert_eq "$(psql_q "SELECT string_agg(id::text, ',' ORDER BY id) FROM public.orders WHERE note LIKE 'changed%'")" "10,12,900,950" "the changes made before and after the upgrade are in the new table"
want=$(psql_q "SELECT md5(string_agg(id || at::text || coalesce(note, ''), ',' ORDER BY id)) FROM public.orders_partmig_old")
assert_eq "$(psql_q "SELECT md5(string_agg(id || at::text || coalesce(note, ''), ',' ORDER BY id)) FROM public.orders")" "$want" "the new table holds the old table's rows"
assert_contains "$(psql -X -q -A -t -c "TRUNCATE public.orders" 2>&1)" "TRUNCATE is refused" "TRUNCATE is refused after the swap (the generic guard)"

# a second run changes nothing in the ledger's SQL: the version is current
psql_q "CREATE OR REPLACE FUNCTION partmig.conversion_log_column(keys text[], base text) RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS 'SELECT base'"
run_cmd "$PARTMIG" apply -d "$FX/migrations"
assert_eq "$RC" 0 "apply again ($ERR)"
assert_eq "$(psql_q "SELECT l.lanname = 'sql' FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = 'partmig.conversion_log_column(text[], text)'::regprocedure")" t "a current ledger is not re-run"
psql_q "UPDATE partmig.meta SET value = '1' WHERE key = 'sql_version'"
run_cmd "$PARTMIG" apply -d "$FX/migrations"
assert_eq "$RC" 0 "apply with an older sql_version ($ERR)"
assert_eq "$(psql_q "SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = 'partmig.conversion_log_column(text[], text)'::regprocedure")" plpgsql "an older sql_version re-runs the files"
assert_eq "$(psql_q "SELECT value FROM partmig.meta WHERE key = 'sql_version'")" "$(head -20 sql/ledger.sql | sed -n 's/^-- partmig sql_version: \([0-9]*\)$/\1/p')" "and records the version"

run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 0 "finalize ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM pg_proc WHERE pronamespace = 'partmig'::regnamespace AND proname LIKE 'conv\_%'")" 0 "no per-conversion function is left (conv_1_guard, conv_1_reverse)"
assert_eq "$(psql_q "SELECT to_regclass('public.orders_partmig_old') IS NULL")" t "the old table is dropped"
assert_eq "$(psql -X -q -A -t -c "TRUNCATE public.orders" 2>&1)" "" "TRUNCATE works again"
assert_done
