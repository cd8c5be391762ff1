#!/usr/bin/env bash
# finalize_busy_writer.sh: finalize while an application updates rows by id
# at a fixed rate (tests/tools/rate_writer) on a table of 48 partitions: no
# writer statement fails (the server's deadlock check runs after 10 ms
# here, so a DROP TRIGGER locking the partitions against a writer's
# UPDATE would cancel the writer) and partmig's triggers are removed; its
# lock is retried with a short lock_timeout that grows while another
# session holds the table.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "deadlock_timeout = 10ms"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.journal_entries (id bigserial PRIMARY KEY, tenant_id int NOT NULL,
    amount numeric NOT NULL DEFAULT 0, note text, created_at timestamptz NOT NULL);
INSERT INTO public.journal_entries (tenant_id, amount, note, created_at)
SELECT g % 50, g, md5(g::text), timestamptz '2022-01-01' + (g / 30000.0) * interval '1430 days'
FROM generate_series(1, 30000) g;
SQL
mkdir -p "$PARTMIG_TEST_DIR/pol"
echo 'partition "journal_entries" { column = "created_at", interval = "1 month", primary_key = { "id", "created_at" } }' \
    >"$PARTMIG_TEST_DIR/pol/j.lua"
run_cmd "$PARTMIG" compile "$PARTMIG_TEST_DIR/pol" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply ($ERR)"
nparts=$(psql_q "SELECT count(*) FROM pg_partition_tree('public.journal_entries') WHERE isleaf")
assert_eq "$(( nparts >= 48 ))" 1 "48 monthly partitions or more ($nparts)"
triggers() { psql_q "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'partmig%' AND tgparentid = 0"; }

STOP="$PARTMIG_TEST_DIR/stop"
"$PARTMIG_TOOLS/rate_writer" journal_entries 200 2 "$STOP" >"$PARTMIG_TEST_DIR/w.out" 2>&1 &
writer=$!
writer_ready "$STOP" "$writer" || fail "the writer did not start: $(cat "$PARTMIG_TEST_DIR/w.out")"

# another session holds ROW EXCLUSIVE (as a long writer would) until
# finalize has retried its lock once, then 0.4 s more
mkfifo "$PARTMIG_TEST_DIR/holder"
psql -X -q -o /dev/null <"$PARTMIG_TEST_DIR/holder" &
holder=$!
exec 3>"$PARTMIG_TEST_DIR/holder"
echo "BEGIN; LOCK TABLE public.journal_entries IN ROW EXCLUSIVE MODE;" >&3
for _ in $(seq 100); do
    [ "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'")" = 1 ] && break
    sleep 0.05
done
"$PARTMIG" finalize public.journal_entries 2>"$PARTMIG_TEST_DIR/fin.err" &
fin=$!
for _ in $(seq 400); do
    grep -q "lock not granted within" "$PARTMIG_TEST_DIR/fin.err" && break
    kill -0 "$fin" 2>/dev/null || break
    sleep 0.05
done
sleep 0.4
echo "COMMIT;" >&3
exec 3>&-
wait "$holder"
wait "$fin"
RC=$?
ERR=$(cat "$PARTMIG_TEST_DIR/fin.err")
assert_eq "$RC" 0 "finalize under the writer and a held lock ($ERR)"
assert_eq "$(psql_q "SELECT to_regclass('public.journal_entries_partmig_old') IS NULL")" t "old table dropped"
assert_eq "$(triggers)" 0 "partmig's triggers removed"
assert_contains "$ERR" "lock not granted within" "the lock was retried"
waits=$(printf '%s\n' "$ERR" | sed -n 's/.*lock not granted within \([0-9]*\)ms.*/\1/p' | tr '\n' ' ')
read -r -a w <<<"$waits"
assert_eq "$(( ${#w[@]} >= 2 ))" 1 "several tries ($waits)"
assert_eq "$(( ${w[0]:-999} <= 50 ))" 1 "the first try waits briefly ($waits)"
assert_eq "$(( ${w[1]:-0} > ${w[0]:-0} ))" 1 "the next try waits longer ($waits)"
run_cmd "$PARTMIG" finalize public.journal_entries
assert_eq "$RC" 0 "finalize again ($ERR)"
assert_contains "$ERR" "already finalized" "finalize again says so"

touch "$STOP"
wait "$writer"
wrc=$?
cat "$PARTMIG_TEST_DIR/w.out"
assert_eq "$wrc" 0 "no writer statement failed ($(cat "$PARTMIG_TEST_DIR/w.out"))"
assert_contains "$(cat "$PARTMIG_TEST_DIR/w.out")" "errors=0" "the writer reports no errors"
assert_done
