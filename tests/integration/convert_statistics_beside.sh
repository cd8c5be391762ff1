#!/usr/bin/env bash
# convert_statistics_beside.sh: with many small partitions the copy
# conversion gathers the new table's statistics in one ANALYZE on a
# connection of its own, while the re-copy of changed keys and the
# verification go on; the conversion counts as verified only once the
# statistics are in.  Here the ANALYZE is held (pg_statistic locked by
# another session): the verification still runs, the state stays
# backfilling; apply killed then resumes and ends with every partition's
# statistics and the parent's.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "log_statement = 'all'" "log_line_prefix = '%p %a: '" "autovacuum = off"
LOG="$PARTMIG_TEST_DIR/server.log"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.ledger (id bigserial PRIMARY KEY, tenant_id int NOT NULL, amount numeric NOT NULL,
    created_at timestamptz NOT NULL);
INSERT INTO public.ledger (tenant_id, amount, created_at)
  SELECT g % 300, g, now() - (g % 60) * interval '1 day' FROM generate_series(1, 12000) g;
ANALYZE public.ledger;
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/l.lua" <<'LUA'
partition "ledger" { column = "created_at", interval = "1 day", premake = 0,
  primary_key = { "id", "created_at" }, existing = { method = "copy", jobs = 2 } }
LUA
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"

# hold ANALYZE where it writes its statistics (nothing else partmig does
# before the swap writes pg_statistic)
psql -X -q -c "BEGIN; LOCK TABLE pg_catalog.pg_statistic IN SHARE MODE; SELECT pg_sleep(600)" >/dev/null 2>&1 &
HOLDER=$!
for _ in $(seq 1 100); do
    [ "$(psql_q "SELECT count(*) FROM pg_locks WHERE relation = 'pg_catalog.pg_statistic'::regclass AND mode = 'ShareLock' AND granted")" = 1 ] && break
    sleep 0.1
done
"$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" >"$PARTMIG_TEST_DIR/apply1.out" 2>&1 &
APPLY=$!
waited=0
for _ in $(seq 1 600); do
    if [ "$(psql_q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.relation = 'pg_catalog.pg_statistic'::regclass AND NOT l.granted AND a.query LIKE 'ANALYZE %'")" -ge 1 ]; then
        waited=1
        break
    fi
    sleep 0.1
done
assert_eq "$waited" 1 "the ANALYZE waits for pg_statistic ($(tail -3 "$PARTMIG_TEST_DIR/apply1.out"))"
# meanwhile the verification runs on the main connection (it locks the new
# table's root in ACCESS SHARE mode and keeps it until it is done)
verified=0
for _ in $(seq 1 300); do
    if grep -q 'LOCK TABLE ONLY "public"."ledger_partmig_new" IN ACCESS SHARE MODE' "$LOG"; then
        verified=1
        break
    fi
    sleep 0.1
done
assert_eq "$verified" 1 "the verification ran beside the ANALYZE"
sleep 1
assert_eq "$(psql_q "SELECT state FROM partmig.conversions")" backfilling "not verified while the statistics are missing"
assert_eq "$(kill -0 "$APPLY" 2>/dev/null && echo running)" running "apply waits for the statistics"
kill -9 "$APPLY" 2>/dev/null
wait "$APPLY" 2>/dev/null
psql_q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE (query LIKE '%pg_sleep(600)%' OR application_name LIKE 'partmig%') AND pid <> pg_backend_pid()" >/dev/null
wait "$HOLDER" 2>/dev/null
for _ in $(seq 1 100); do
    [ "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'partmig%'")" = 0 ] && break
    sleep 0.1
done

run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply resumes and converts ($ERR)"
assert_contains "$ERR" "gathered the statistics of" "the statistics gathered beside"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.ledger'::regclass")" p "ledger is partitioned"
assert_eq "$(psql_q "SELECT count(*) FROM pg_class c JOIN pg_inherits h ON h.inhrelid = c.oid WHERE h.inhparent = 'public.ledger'::regclass AND c.reltuples > 0 AND NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = 'public' AND s.tablename = c.relname AND s.attname = 'tenant_id' AND NOT s.inherited)")" 0 "every partition with rows has statistics"
assert_eq "$(psql_q "SELECT count(*) FROM pg_class c JOIN pg_inherits h ON h.inhrelid = c.oid WHERE h.inhparent = 'public.ledger'::regclass AND c.reltuples > 0")" "$(psql_q "SELECT count(DISTINCT created_at) FROM public.ledger")" "each day's partition has rows"
assert_eq "$(psql_q "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'ledger' AND attname = 'tenant_id' AND inherited")" 1 "the parent has statistics"
assert_eq "$(psql_q "SELECT count(*) FROM public.ledger")" 12000 "every row"
assert_done
