# runtime_lock.sh: one runner at a time (exit 3 naming the holder, --wait),
# lock_timeout retries that fail cleanly without blocking other sessions for
# longer than lock_timeout, and passwords never printed.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
FIX="$PARTMIG_SOURCE/tests/fixtures/runtime"
D="$PARTMIG_TEST_DIR/migs"
mkdir -p "$D"
cp "$FIX/basic/0001_events.sql" "$FIX/extra/0002_alter.sql" "$D/"
"$PARTMIG_TOOLS/runtime_sum" "$D" || fail "runtime_sum"
run_cmd "$PARTMIG" apply -d "$D" --to 1
assert_eq "$RC" 0 "apply version 1: $ERR"

# ---- a second runner: refused with exit 3 and who holds the lock
PGAPPNAME=other-runner psql -X -q -c "select pg_advisory_lock(1885434484, 1835624241)" -c "select pg_sleep(3)" >/dev/null &
holder=$!
for _ in $(seq 50); do
    [ "$(psql_q "select count(*) from pg_locks where locktype = 'advisory' and granted")" = 1 ] && break
    sleep 0.1
done
run_cmd "$PARTMIG" apply -d "$D"
assert_eq "$RC" 3 "second runner: exit 3"
assert_contains "$ERR" "another partmig runner holds the lock" "lock message"
assert_contains "$ERR" 'application "other-runner"' "holder's application named"
assert_contains "$ERR" "pid " "holder's pid named"
assert_contains "$ERR" "connected since" "holder's start named"
assert_eq "$(psql_q "select count(*) from partmig.migrations where version = 2")" 0 "refused runner applied nothing"
# --wait outlasts the holder (it releases after ~3 s)
t0=$(date +%s.%N)
run_cmd "$PARTMIG" apply -d "$D" --wait 20
t1=$(date +%s.%N)
assert_eq "$RC" 0 "apply --wait succeeds once the holder is gone: $ERR"
assert_eq "$(python3 -c "print(1 <= $t1 - $t0 < 15)")" True "apply waited for the holder, then ran"
wait "$holder"
run_cmd "$PARTMIG" rollback -d "$D" --to 1
assert_eq "$RC" 0 "rollback version 2: $ERR"

# ---- a lock held by another session: retries, then a clean failure naming it
PGAPPNAME=blocker psql -X -q -c "begin" -c "select count(*) from public.events" -c "select pg_sleep(12)" >/dev/null &
blocker=$!
for _ in $(seq 50); do
    [ "$(psql_q "select count(*) from pg_stat_activity where application_name = 'blocker' and state = 'active' and query like '%pg_sleep%'")" = 1 ] && break
    sleep 0.1
done
# meanwhile another session reads the table over and over: it queues behind
# apply's ACCESS EXCLUSIVE request, but never for longer than lock_timeout (1s)
python3 - "$PARTMIG_TEST_DIR/latency" <<'PY' &
import subprocess, sys, time
worst = 0.0
end = time.time() + 6
while time.time() < end:
    t = time.time()
    subprocess.run(["psql", "-X", "-q", "-A", "-t", "-c", "select count(*) from public.events"], check=True, capture_output=True)
    worst = max(worst, time.time() - t)
    time.sleep(0.05)
open(sys.argv[1], "w").write("%.3f" % worst)
PY
reader=$!
t0=$(date +%s.%N)
run_cmd "$PARTMIG" apply -d "$D" --lock-retries 3
t1=$(date +%s.%N)
wait "$reader"
assert_eq "$RC" 1 "apply fails cleanly when the lock cannot be had"
assert_contains "$ERR" "could not get ACCESS EXCLUSIVE on public.events after 3 tries (lock_timeout up to 1s)" "names the lock and the tries"
assert_contains "$ERR" 'application "blocker"' "names the blocking session"
assert_contains "$ERR" "AccessShareLock" "names the lock it holds"
assert_contains "$ERR" "retried after" "reports retries"
assert_eq "$(python3 -c "print(0.3 <= $t1 - $t0 < 12)")" True "apply tried 3 times, each lock wait longer, with backoff ($(python3 -c "print(round($t1 - $t0, 1))") s)"
worst=$(cat "$PARTMIG_TEST_DIR/latency")
echo "worst read latency while apply waited: ${worst}s"
assert_eq "$(python3 -c "print($worst < 1.6)")" True "other sessions blocked at most about lock_timeout (worst ${worst}s)"
assert_eq "$(psql_q "select state from partmig.steps where version = 2 and step = 1")" failed "ledger: step failed"
assert_eq "$(psql_q "select state from partmig.migrations where version = 2")" failed "ledger: migration failed"
assert_eq "$(psql_q "select count(*) from information_schema.columns where table_name = 'events' and column_name = 'note'")" 0 "nothing half-done"
kill "$blocker" 2>/dev/null
wait "$blocker" 2>/dev/null
run_cmd "$PARTMIG" apply -d "$D"
assert_eq "$RC" 0 "apply succeeds once the blocker is gone: $ERR"
assert_eq "$(psql_q "select state || ':' || attempts from partmig.steps where version = 2 and step = 1")" "done:3" "ledger: done on a later attempt"

# ---- passwords never appear in output
SECRET='S3cr3t-Pa55word'
psql_q "create role pwuser login password '$SECRET-right'; grant usage on schema partmig to pwuser; grant select on all tables in schema partmig to pwuser; grant pg_read_all_data to pwuser"
printf 'host all pwuser 127.0.0.1/32 scram-sha-256\n' >"$PARTMIG_TEST_DIR/hba"
cat "$PARTMIG_TEST_DIR/data/pg_hba.conf" >>"$PARTMIG_TEST_DIR/hba"
pg_as_owner cp "$PARTMIG_TEST_DIR/hba" "$PARTMIG_TEST_DIR/data/pg_hba.conf"
psql_q "select pg_reload_conf()" >/dev/null
sleep 0.3
for cmd in "apply -d $D" "status" "verify -d $D" "plan -d $D" "rollback -d $D --to 2"; do
    run_cmd "$PARTMIG" $cmd --db "postgresql://pwuser:$SECRET@127.0.0.1:$PGPORT/postgres"
    assert_eq "$RC" 1 "wrong password: exit 1 ($cmd)"
    assert_contains "$ERR" "password authentication failed" "wrong password reported ($cmd)"
    assert_not_contains "$OUT$ERR" "$SECRET" "password not printed ($cmd)"
done
run_cmd env PARTMIG_DATABASE_URL="postgresql://pwuser:$SECRET@127.0.0.1:$PGPORT/postgres" "$PARTMIG" status
assert_eq "$RC" 1 "wrong password via PARTMIG_DATABASE_URL: exit 1"
assert_not_contains "$OUT$ERR" "$SECRET" "password from PARTMIG_DATABASE_URL not printed"
run_cmd "$PARTMIG" status --db "postgresql://pwuser:$SECRET@127.0.0.1:1/postgres?connect_timeout=2"
assert_eq "$RC" 1 "unreachable server: exit 1"
assert_contains "$ERR" "cannot connect" "unreachable server reported"
assert_not_contains "$OUT$ERR" "$SECRET" "password not printed for an unreachable server"
run_cmd "$PARTMIG" status --db "postgresql://pwuser:$SECRET-right@127.0.0.1:$PGPORT/postgres" --json
assert_eq "$RC" 0 "right password connects: $ERR"
assert_not_contains "$OUT$ERR" "$SECRET" "password not printed on success"
run_cmd "$PARTMIG" status --db "host=127.0.0.1 port=$PGPORT user=pwuser password=$SECRET dbname=postgres"
assert_eq "$RC" 1 "wrong password in a conninfo string: exit 1"
assert_not_contains "$OUT$ERR" "$SECRET" "password in a conninfo string not printed"
assert_done
