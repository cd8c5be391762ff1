#!/usr/bin/env bash
# rollback never drops a row that was being written while it checked: an
# insert not yet committed when rollback looks at a partition must either be
# waited for (and then refuse the drop) or never happen.  Both undo paths:
# the runtime's (premake, created table) and a compiled undo block (static
# partitions).  The rows go to the first partition each undo checks.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
T=$PARTMIG_TEST_DIR
mkdir -p "$T/pol"
day=$(date -u +%Y-%m-%d)
start=$(date -u -d "$day -2 days" +%Y-%m-%d)
cat >"$T/pol/api.lua" <<LUA
partition "api_calls" { by = "range", column = "at", interval = "1 day", start = "$start", premake = 1,
  columns = { { "id", "bigint not null" }, { "at", "timestamptz not null" }, { "note", "text" } },
  primary_key = { "id", "at" } }
LUA
"$PARTMIG" compile "$T/pol" -o "$T/mig" >/dev/null || fail "compile"
# plan lists each partition once: premake leaves out what the static step makes
run_cmd "$PARTMIG" plan -d "$T/mig"
assert_eq "$RC" 0 "plan ($ERR)"
first="api_calls_p$(echo "$start" | tr - _)"
assert_eq "$(echo "$OUT" | grep -c "CREATE TABLE IF NOT EXISTS \"public\".\"$first\"")" 1 "plan creates $first once"
run_cmd "$PARTMIG" apply -d "$T/mig" --db postgres
assert_eq "$RC" 0 "apply, --db a bare database name ($ERR)"

# a writer inside a transaction that commits 3 s later
psql -X -q -c "BEGIN; INSERT INTO public.api_calls VALUES (1, '$start 05:00+00', 'precious'); SELECT pg_sleep(3); COMMIT;" &
writer=$!
sleep 0.7
run_cmd "$PARTMIG" rollback --to 0 -d "$T/mig"
wait "$writer"
assert_eq "$RC" 1 "rollback refuses once the insert has committed ($ERR)"
assert_contains "$ERR" "holds rows" "it says why"
assert_eq "$(psql_q "SELECT count(*) FROM public.api_calls WHERE note = 'precious'")" 1 "the committed row is still there"

# the compiled undo block (static partitions step) locks before it checks
psql_q "DELETE FROM public.api_calls"
run_cmd "$PARTMIG" rollback --to 1:2 -d "$T/mig"
assert_eq "$RC" 0 "rollback of the steps after 1:2 ($ERR)"
psql -X -q -c "BEGIN; INSERT INTO public.api_calls VALUES (2, '$start 06:00+00', 'precious too'); SELECT pg_sleep(3); COMMIT;" &
writer=$!
sleep 0.7
run_cmd "$PARTMIG" rollback --to 1:1 -d "$T/mig"
wait "$writer"
assert_eq "$RC" 1 "the undo block refuses once the insert has committed ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM public.api_calls WHERE note = 'precious too'")" 1 "that row is still there too"
assert_done
