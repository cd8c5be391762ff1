#!/usr/bin/env bash
# convert_finalize.sh: `partmig finalize` takes the one-runner lock (exit 3
# while another runner holds it, also after --wait), verifies counts and the
# rows' contents partition by partition (an old table with the same count
# but a changed row is not dropped), and drops the old table only while the
# conversion is still swapped.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.events (id bigserial PRIMARY KEY, kind text NOT NULL, payload text,
    created_at timestamptz NOT NULL);
INSERT INTO public.events (kind, payload, created_at)
SELECT 'k' || g % 5, md5(g::text), timestamptz '2025-01-01 UTC' + g * interval '1 hour' FROM generate_series(1, 5000) g;
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
echo 'partition "events" { column = "created_at", interval = "1 month", premake = 1, primary_key = { "id", "created_at" } }' >"$POL/events.lua"
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply ($ERR)"

run_cmd "$PARTMIG" finalize --help
assert_contains "$OUT" "exit codes:" "finalize --help lists exit codes"
assert_contains "$OUT" "--wait SECONDS" "finalize --help lists --wait"

# another runner holds the lock: exit 3, nothing dropped
psql -X -q <<'SQL' &
SELECT pg_advisory_lock(1885434484, 1835624241);
SELECT pg_sleep(4);
SQL
hold=$!
sleep 0.7
run_cmd "$PARTMIG" finalize public.events --wait 1
assert_eq "$RC" 3 "finalize waits at most --wait for the runner lock, then exits 3 ($ERR)"
assert_eq "$(psql_q "SELECT to_regclass('public.events_partmig_old') IS NOT NULL")" t "old table kept while locked"
wait "$hold"

# same count, different contents: refused
psql_q "UPDATE public.events_partmig_old SET payload = 'tampered' WHERE id = 4321"
run_cmd "$PARTMIG" finalize public.events
assert_eq "$RC" 1 "finalize refuses an old table whose contents differ ($ERR)"
assert_contains "$ERR" "contents differ" "the message says the contents differ"
assert_contains "$ERR" "events_p2025_06" "the message names the partition"
assert_eq "$(psql_q "SELECT to_regclass('public.events_partmig_old') IS NOT NULL")" t "old table kept after a failed fingerprint"
psql_q "UPDATE public.events_partmig_old o SET payload = n.payload FROM public.events n WHERE o.id = 4321 AND n.id = 4321"

run_cmd "$PARTMIG" finalize public.events --wait 5
assert_eq "$RC" 0 "finalize ($ERR)"
assert_contains "$ERR" "row fingerprints of every partition match" "finalize compares contents"
assert_eq "$(psql_q "SELECT to_regclass('public.events_partmig_old') IS NULL")" t "old table dropped"
assert_eq "$(psql_q "SELECT state FROM partmig.conversions")" finalized "recorded"
run_cmd "$PARTMIG" finalize public.events
assert_eq "$RC" 0 "finalize again is a no-op ($ERR)"
run_cmd "$PARTMIG" finalize
assert_eq "$RC" 2 "finalize without a table is bad usage"

# a writer's statement in flight while finalize runs: it ran the reverse
# mirror's body once in its session, then holds the table for 3 s before it
# changes a row; it must not fail on the dropped old table
psql_q "CREATE DATABASE fdb" >/dev/null
export PGDATABASE=fdb
psql_q "CREATE TABLE public.f (id bigserial PRIMARY KEY, k timestamptz NOT NULL, v int NOT NULL DEFAULT 0);
        INSERT INTO public.f (k) SELECT now() - g * interval '1 hour' FROM generate_series(1, 2000) g" >/dev/null
mkdir -p "$PARTMIG_TEST_DIR/polf"
echo 'partition "f" { column = "k", interval = "1 month", primary_key = { "id", "k" } }' >"$PARTMIG_TEST_DIR/polf/f.lua"
"$PARTMIG" compile "$PARTMIG_TEST_DIR/polf" -o "$PARTMIG_TEST_DIR/migf" >/dev/null
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/migf"
assert_eq "$RC" 0 "apply converts public.f ($ERR)"
(sleep 1; "$PARTMIG" finalize public.f >"$PARTMIG_TEST_DIR/fin.out" 2>&1; echo "rc=$?" >>"$PARTMIG_TEST_DIR/fin.out") &
fin=$!
writer=$(psql -X -q -v ON_ERROR_STOP=1 2>&1 <<'SQL'
UPDATE public.f SET v = v + 1 WHERE id = 2;
UPDATE public.f SET v = v + 1 WHERE id = (SELECT 1 FROM pg_sleep(3));
SQL
)
wait $fin
assert_not_contains "$writer" "ERROR" "a writer's statement in flight during finalize succeeds"
assert_contains "$(cat "$PARTMIG_TEST_DIR/fin.out")" "rc=0" "finalize succeeds after the statement ($(cat "$PARTMIG_TEST_DIR/fin.out"))"
assert_eq "$(psql_q "SELECT v FROM public.f WHERE id = 1")" 1 "the writer's update is there"
assert_done
