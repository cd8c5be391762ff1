#!/usr/bin/env bash
# convert_lock_retries.sh: a conversion's locked step (the swap) that cannot
# get its lock retries under the lock policy -- each try's wait printed --
# then stops cleanly after --lock-retries tries, naming what it waited for;
# nothing is swapped, every row stays, and the next apply finishes.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.events (id bigserial PRIMARY KEY, kind text, created timestamptz NOT NULL);
INSERT INTO public.events (kind, created)
  SELECT 'k' || (g % 7), timestamptz '2024-01-01' + (g % 90) * interval '1 day' FROM generate_series(1, 5000) g;
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/e.lua" <<'LUA'
partition "events" { column = "created", interval = "1 month", premake = 1, start = "2024-01-01",
  primary_key = { "id", "created" }, existing = { method = "copy" } }
LUA
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"
before=$(psql_q "SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM public.events e")

# a reader holds ACCESS SHARE: the swap's ACCESS EXCLUSIVE waits, times out, retries
PGAPPNAME=holder psql -X -q -c "BEGIN; LOCK TABLE public.events IN ACCESS SHARE MODE; SELECT pg_sleep(600)" >/dev/null 2>&1 &
HOLDER=$!
for _ in $(seq 1 100); do
    [ "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder' AND state = 'active'")" = 1 ] && break
    sleep 0.1
done
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --lock-retries 3
assert_eq "$RC" 1 "apply stops when the swap cannot get its lock ($ERR)"
assert_contains "$ERR" "swapping the tables: lock not granted within 25ms, retried after" "first try waits 25 ms"
assert_contains "$ERR" "(try 3 of 3)" "every try reported"
assert_contains "$ERR" "swapping the tables: could not get the lock within 500ms after 3 attempts" "the failure names the step and the tries"
assert_contains "$ERR" "long transactions hold the table" "hint"
assert_eq "$(psql_q "SELECT state FROM partmig.conversions")" verified "verified, not swapped"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.events'::regclass")" r "events is still the plain table"
assert_eq "$(psql_q "SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM public.events e")" "$before" "every row as it was"
psql_q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
wait "$HOLDER" 2>/dev/null

run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply finishes once the reader is gone ($ERR)"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.events'::regclass")" p "events is partitioned"
assert_eq "$(psql_q "SELECT md5(string_agg(e::text, ',' ORDER BY id)) FROM public.events e")" "$before" "every row, converted"
assert_done
