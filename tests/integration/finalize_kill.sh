#!/usr/bin/env bash
# finalize_kill.sh: the runner lock's holder, told clearly: its pid, since
# when, its statement, and pg_terminate_backend for a partmig whose process
# is gone; after kill -9 of finalize in the middle of its verification, a
# rerun gets the lock within a few seconds and finishes.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.events (id bigserial PRIMARY KEY, kind text NOT NULL, payload text,
    created_at timestamptz NOT NULL);
INSERT INTO public.events (kind, payload, created_at)
SELECT 'k' || g % 5, md5(g::text), timestamptz '2025-01-01 UTC' + g * interval '1 hour' FROM generate_series(1, 20000) g;
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
echo 'partition "events" { column = "created_at", interval = "1 week", premake = 1, primary_key = { "id", "created_at" } }' >"$POL/events.lua"
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply ($ERR)"

# a partmig whose process is gone holds the lock (its session lives on)
psql -X -q "application_name='partmig pid=99999999 host=$(hostname | cut -c1-30)'" <<'SQL' &
SELECT pg_advisory_lock(1885434484, 1835624241);
SELECT pg_sleep(3);
SQL
hold=$!
sleep 0.7
holder=$(psql_q "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 1835624241")
run_cmd "$PARTMIG" finalize public.events
assert_eq "$RC" 3 "finalize exits 3 while the lock is held ($ERR)"
assert_contains "$ERR" "pid $holder " "the message names the holder's pid"
assert_contains "$ERR" "process 99999999 on this host is gone" "the message says the holder's partmig is gone"
assert_contains "$ERR" "SELECT pg_terminate_backend($holder);" "the hint says what ends the session"
wait "$hold"

# a live partmig holds it: pid, since when, and the statement it runs
psql -X -q "application_name=partmig" <<'SQL' &
SELECT pg_advisory_lock(1885434484, 1835624241);
SELECT pg_sleep(3);
SQL
hold=$!
sleep 0.7
holder=$(psql_q "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 1835624241")
run_cmd "$PARTMIG" finalize public.events --wait 1
assert_eq "$RC" 3 "finalize exits 3 after --wait ($ERR)"
assert_contains "$ERR" "pid $holder " "the message names the live holder's pid"
assert_contains "$ERR" "active since" "the message says since when"
assert_contains "$ERR" "pg_sleep" "the message shows the holder's statement"
assert_contains "$ERR" "pg_terminate_backend($holder)" "the hint says how to end a killed partmig's session"
wait "$hold"

# kill -9 in the middle of the verification (held up by a lock on the old
# table), then the lock goes: a rerun must get the runner lock within seconds
psql -X -q <<'SQL' &
BEGIN;
LOCK TABLE public.events_partmig_old IN ACCESS EXCLUSIVE MODE;
SELECT pg_sleep(3);
COMMIT;
SQL
locker=$!
sleep 0.5
"$PARTMIG" finalize public.events >"$PARTMIG_TEST_DIR/fin.out" 2>&1 &
fin=$!
for _ in $(seq 50); do
    [ "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'partmig%' AND wait_event_type = 'Lock'")" = 1 ] && break
    sleep 0.1
done
assert_eq "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'partmig%' AND wait_event_type = 'Lock'")" 1 "finalize is verifying (waiting for the old table)"
kill -9 "$fin"
wait "$fin" 2>/dev/null
wait "$locker"
start=$(date +%s)
run_cmd "$PARTMIG" finalize public.events --wait 10
took=$(( $(date +%s) - start ))
assert_eq "$RC" 0 "a rerun after kill -9 finalizes ($ERR)"
assert_eq "$(( took <= 5 ))" 1 "within a few seconds (${took} s)"
assert_eq "$(psql_q "SELECT to_regclass('public.events_partmig_old') IS NULL")" t "old table dropped"
assert_eq "$(psql_q "SELECT state FROM partmig.conversions")" finalized "recorded"
assert_done
