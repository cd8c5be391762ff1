-- ledger_test.sql: pgTAP tests of sql/ledger.sql (loaded twice by
-- tests/integration/sql_pgtap.sh: idempotent) and of the privileges of
-- sql/conversion.sql's functions.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;
SELECT plan(10);

SELECT tables_are('partmig', ARRAY['meta', 'migrations', 'steps', 'step_objects', 'policies', 'maintain_runs',
                  'conversions', 'conversion_jobs', 'conversion_names', 'batches', 'retention_log'],
                  'the ledger has its eleven tables, nothing else');
SELECT columns_are('partmig', 'conversions', ARRAY['id', 'table_schema', 'table_name', 'method', 'state', 'version',
                   'step', 'old_oid', 'shadow_name', 'kept_name', 'lower_bound', 'upper_bound', 'rows_verified',
                   'swap_ms', 'started_at', 'updated_at', 'swapped_at', 'finished_at', 'key_columns', 'key_types',
                   'part_column', 'part_type', 'log_name', 'undo_horizon', 'undo_snapshot', 'undo_swap_xid'],
                   'conversions: the columns of ledger version 2 and those the change capture reads');
SELECT columns_are('partmig', 'retention_log', ARRAY['schema_name', 'table_name', 'parent', 'bound', 'recorded_at',
                   'finished_at'], 'retention_log as maintain records it');
SELECT col_is_pk('partmig', 'steps', ARRAY['version', 'step'], 'steps are keyed by version and step');
SELECT fk_ok('partmig', 'step_objects', ARRAY['version', 'step'], 'partmig', 'steps', ARRAY['version', 'step'],
             'step objects belong to a step');
SELECT indexes_are('partmig', 'conversions', ARRAY['conversions_pkey', 'conversions_active'],
                   'one active conversion per table');
SELECT functions_are('partmig', ARRAY['conversion_log_column', 'conversion_set_keys', 'conversion_row',
                     'conversion_guard', 'conversion_make_log', 'conversion_install_capture', 'conversion_resync',
                     'conversion_resync_rows', 'conversion_install_undo_log', 'conversion_resync_back',
                     'conversion_resync_back_rows', 'conversion_seal_undo_log', 'conversion_undo_scan', 'conversion_seal_leaves', 'conversion_undo_target', 'conversion_undo_gather', 'conversion_undo_compare', 'conversion_key_part_list', 'conversion_row_hash', 'conversion_keys_typed', 'conversion_leaf_triggers', 'conversion_seal_fresh', 'conversion_make_undo_log'],
                     'schema partmig has sql/conversion.sql''s functions');
SELECT is((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'partmig'::regnamespace
            AND has_function_privilege('public', p.oid, 'EXECUTE')), 0::bigint, 'PUBLIC may execute none of them');
SELECT is((SELECT array_agg(p.proname::text ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'partmig'::regnamespace AND p.prosecdef), ARRAY['conversion_guard'],
          'only the TRUNCATE guard runs as its owner');
SELECT is((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'partmig'::regnamespace
            AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)), 0::bigint,
          'every function sets search_path');

SELECT * FROM finish();
ROLLBACK;
