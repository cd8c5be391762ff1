#!/usr/bin/env bash
# build_index_interrupted.sh: CREATE INDEX CONCURRENTLY on a partition waits
# for transactions older than it; when that wait times out (partmig's first
# lock waits are short) PostgreSQL leaves an INVALID index under the name.
# The retry must not take it for done (IF NOT EXISTS would) and attach it:
# apply drops it and builds again, and every index ends valid.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
T=$PARTMIG_TEST_DIR
mkdir -p "$T/pol"
cols='columns = { { "id", "bigint not null" }, { "at", "timestamptz not null" }, { "c", "int" } }, primary_key = { "id", "at" }'
echo "partition \"ev\" { column = \"at\", interval = \"1 month\", start = \"2026-01-01\", premake = 2, $cols }" >"$T/pol/ev.lua"
"$PARTMIG" compile "$T/pol" -o "$T/mig" --as-of 2026-06-01 >/dev/null
run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "version 1 ($ERR)"
psql_q "INSERT INTO public.ev SELECT g, timestamptz '2026-01-01 UTC' + g * interval '1 hour', g % 7 FROM generate_series(1, 3000) g" >/dev/null
echo "partition \"ev\" { column = \"at\", interval = \"1 month\", start = \"2026-01-01\", premake = 2, indexes = { { columns = { \"c\" } } }, $cols }" >"$T/pol/ev.lua"
"$PARTMIG" compile "$T/pol" -o "$T/mig" --as-of 2026-06-01 >/dev/null
# a transaction that every concurrent index build must wait out, for 1.5 s
psql -X -q -c "BEGIN; SELECT pg_catalog.txid_current(); SELECT pg_sleep(1.5); COMMIT;" >/dev/null &
holder=$!
sleep 0.3
run_cmd "$PARTMIG" apply -d "$T/mig" --lock-retries 12
wait $holder
assert_eq "$RC" 0 "version 2 builds the index despite the wait ($ERR)"
assert_contains "$ERR" "older transactions outlasted 500ms; building index" "a timed-out build was built again"
assert_eq "$(psql_q "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'ev%' AND NOT i.indisvalid")" 0 "no index is left invalid"
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.ev_c_idx'::regclass")" \
    "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.ev'::regclass")" "every partition's index is attached"
run_cmd "$PARTMIG" verify -d "$T/mig"
assert_eq "$RC" 0 "verify ($ERR)"
assert_done
