#!/usr/bin/env bash
# verify_few_locks.sh: verification of a table with hundreds of partitions,
# each with three indexes, on a server whose lock table is far too small to
# hold a lock on every partition and index at once (max_locks_per_transaction
# lowered after the conversion): finalize still compares every partition in
# one snapshot, finds a changed row in its partition, and passes once the row
# is restored.  A rollback there drops the new table's partitions a few a
# transaction.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"

# 400 days, five rows a day, three indexes
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.events (id bigint PRIMARY KEY, kind text NOT NULL, payload text,
    created_at timestamptz NOT NULL);
CREATE INDEX events_kind ON public.events (kind);
CREATE INDEX events_payload ON public.events (payload);
INSERT INTO public.events SELECT g, 'k' || g % 5, md5(g::text),
    date_trunc('day', now()) - interval '400 days' + g * interval '4 hours 48 minutes'
FROM generate_series(1, 5 * 400 - 1) g;
SQL
echo 'partition "events" { column = "created_at", interval = "1 day", premake = 2, primary_key = { "id", "created_at" } }' >"$POL/events.lua"
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply converts events into daily partitions ($ERR)"
nparts=$(psql_q "SELECT count(*) FROM pg_partition_tree('public.events') WHERE isleaf")
assert_eq "$(( nparts > 400 ))" 1 "more than 400 partitions ($nparts)"
nidx=$(psql_q "SELECT count(*) FROM pg_partition_tree('public.events') t JOIN pg_index i ON i.indrelid = t.relid WHERE t.isleaf")
assert_eq "$nidx" "$(( 3 * nparts ))" "three indexes on every partition"

part=$(psql_q "SELECT tableoid::regclass FROM public.events WHERE id = 777")

# a second table, converted by a second version, for a rollback with few locks
psql_q "CREATE TABLE public.events2 (LIKE public.events INCLUDING ALL); INSERT INTO public.events2 SELECT * FROM public.events" >/dev/null
echo 'partition "events2" { column = "created_at", interval = "1 day", premake = 2, primary_key = { "id", "created_at" } }' >"$POL/events2.lua"
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile the second version ($ERR)"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply converts events2 ($ERR)"
psql_q "UPDATE public.events2 SET payload = 'after the swap' WHERE id % 100 = 0; DELETE FROM public.events2 WHERE id % 101 = 0" >/dev/null
want2=$(psql_q "SELECT count(*) || md5(string_agg(e::text, ',' ORDER BY id)) FROM public.events2 e")

# a lock table of 16 x (20 connections + a few workers) slots: a few hundred
# locks, where one statement over every partition and index takes $((4 * nparts))
printf 'max_locks_per_transaction = 16\nmax_connections = 20\n' | pg_as_owner tee -a "$PARTMIG_TEST_DIR/data/postgresql.conf" >/dev/null
pg_restart
assert_eq "$(psql_q "SHOW max_locks_per_transaction")" 16 "the lock table is small"
run_cmd psql -X -q -A -t -c "SELECT count(*) FROM public.events"
assert_contains "$ERR" "out of shared memory" "one statement over every partition runs out of locks"

# a changed row of the kept table is found in its partition
psql_q "UPDATE public.events_partmig_old SET payload = 'tampered' WHERE id = 777" >/dev/null
run_cmd "$PARTMIG" finalize public.events
assert_eq "$RC" 1 "finalize refuses a changed row ($ERR)"
assert_contains "$ERR" "$part: 5 rows each, but their contents differ" "the message names the row's partition $part"
assert_not_contains "$ERR" "shared memory" "verification fits in the lock table"
psql_q "UPDATE public.events_partmig_old SET payload = md5('777') WHERE id = 777" >/dev/null
run_cmd "$PARTMIG" finalize public.events
assert_eq "$RC" 0 "finalize verifies $nparts partitions with few locks ($ERR)"
assert_contains "$ERR" "row fingerprints of every partition match" "finalize compared every partition"
assert_eq "$(psql_q "SELECT to_regclass('public.events_partmig_old') IS NULL")" t "old table dropped"

# rollback of events2: the new table's hundreds of partitions (and their
# indexes) are dropped a few a transaction, within the small lock table
run_cmd "$PARTMIG" rollback --to 1 -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "rollback of events2 with few locks ($ERR)"
assert_not_contains "$ERR" "shared memory" "the drop fits in the lock table"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.events2'::regclass")" r "events2 is a plain table again"
assert_eq "$(psql_q "SELECT count(*) || md5(string_agg(e::text, ',' ORDER BY id)) FROM public.events2 e")" "$want2" "events2 holds every row, those written after the swap included"
assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname LIKE 'events2_p2%' OR relname LIKE 'events2_partmig%'")" 0 "nothing of its new table is left"
assert_done
