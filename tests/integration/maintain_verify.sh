#!/usr/bin/env bash
# verify after retention: partitions that partmig maintain removed on purpose
# (recorded in partmig.retention_log) are not reported missing; a partition
# removed by hand still is.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
T=$PARTMIG_TEST_DIR
mkdir -p "$T/pol"
start=$(date -u -d "$(date -u +%Y-%m-01) -30 months" +%Y-%m-%d)
cat >"$T/pol/events.lua" <<LUA
partition "events" {
  by = "range", column = "at", interval = "1 month", start = "$start", premake = 2,
  columns = { { "id", "bigint generated always as identity" }, { "at", "timestamptz not null" } },
  primary_key = { "id", "at" },
  retention = { keep = "12 months" },
}
LUA
run_cmd "$PARTMIG" compile "$T/pol" -o "$T/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply ($ERR)"
psql_q "INSERT INTO events (at) SELECT now() - (i || ' days')::interval FROM generate_series(1, 900, 3) i"
before=$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.events'::regclass")

run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain ($ERR)"
after=$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.events'::regclass")
removed=$(psql_q "SELECT count(*) FROM partmig.retention_log WHERE finished_at IS NOT NULL")
assert_eq "$((before - after))" "$removed" "every removed partition is in the retention log"
[ "$removed" -ge 10 ] && pass || fail "retention removed at least 10 monthly partitions (removed $removed)"

run_cmd "$PARTMIG" verify -d "$T/mig"
assert_eq "$RC" 0 "verify passes after retention ($OUT $ERR)"
assert_contains "$OUT" "was removed by retention" "verify says which partitions retention removed"

# a partition dropped by hand is still a problem
victim=$(psql_q "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.events'::regclass AND c.relname <> 'events_default' ORDER BY c.relname DESC LIMIT 1")
psql_q "DROP TABLE public.$victim"
run_cmd "$PARTMIG" verify -d "$T/mig"
assert_eq "$RC" 1 "verify fails for a partition dropped by hand"
assert_contains "$ERR$OUT" "\"public.$victim\"" "the missing partition is named"
assert_done
