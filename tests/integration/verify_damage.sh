#!/usr/bin/env bash
# verify_damage.sh: verify reports real damage and only that.  Indexes of
# partitions that retention removed are gone on purpose (not "missing");
# a partition detached by hand from a converted table (its partitions made
# at apply time, by the conversion) is found, with the detached table named.
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
  columns = { { "id", "bigint generated always as identity" }, { "at", "timestamptz not null" }, { "customer_id", "int" } },
  primary_key = { "id", "at" }, indexes = { { columns = { "customer_id" } } },
  retention = { keep = "12 months" },
}
LUA
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.orders (id bigserial PRIMARY KEY, customer_id int, created_at timestamptz NOT NULL);
INSERT INTO public.orders (customer_id, created_at)
SELECT g % 50, date_trunc('month', now()) - interval '20 months' + g * interval '6 hours' FROM generate_series(1, 2000) g;
SQL
echo 'partition "orders" { column = "created_at", interval = "1 month", premake = 1, primary_key = { "id", "created_at" } }' >"$T/pol/orders.lua"
run_cmd "$PARTMIG" compile "$T/pol" -o "$T/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply ($ERR)"
run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 0 "finalize orders ($ERR)"
psql_q "INSERT INTO events (at, customer_id) SELECT now() - (i || ' days')::interval, i FROM generate_series(1, 900, 3) i"
run_cmd "$PARTMIG" verify -d "$T/mig"
assert_eq "$RC" 0 "verify passes on the fresh tables ($OUT $ERR)"

# retention removes old partitions of events, their indexes with them
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain ($ERR)"
removed=$(psql_q "SELECT count(*) FROM partmig.retention_log WHERE finished_at IS NOT NULL")
[ "$removed" -ge 10 ] && pass || fail "retention removed at least 10 monthly partitions (removed $removed)"
run_cmd "$PARTMIG" verify -d "$T/mig"
assert_eq "$RC" 0 "verify passes after retention: the removed partitions' indexes are gone on purpose ($ERR)"
assert_not_contains "$ERR" "is missing" "no index reported missing"
assert_contains "$OUT" "went with its partition" "verify says why those indexes are gone"

# an index of a partition that is still there, dropped by hand: damage
victim=$(psql_q "SELECT i.relname FROM pg_class c JOIN pg_index x ON x.indrelid = c.oid JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_inherits h ON h.inhrelid = c.oid WHERE h.inhparent = 'public.events'::regclass AND NOT x.indisprimary AND c.relname <> 'events_default' ORDER BY c.relname DESC LIMIT 1")
psql_q "ALTER INDEX public.$victim RENAME TO kept_aside"
run_cmd "$PARTMIG" verify -d "$T/mig"
assert_eq "$RC" 1 "verify fails for an index missing from a present partition"
psql_q "ALTER INDEX public.kept_aside RENAME TO $victim"

# a partition of the converted table detached by hand, rows and all
part=$(psql_q "SELECT tableoid::regclass FROM public.orders ORDER BY created_at LIMIT 1 OFFSET 1000")
rows=$(psql_q "SELECT count(*) FROM $part")
[ "$rows" -gt 0 ] && pass || fail "the partition holds rows ($rows)"
psql_q "ALTER TABLE public.orders DETACH PARTITION $part"
run_cmd "$PARTMIG" verify -d "$T/mig"
assert_eq "$RC" 1 "verify fails for a partition detached by hand ($OUT $ERR)"
assert_contains "$ERR" "\"public.orders\" lacks the partitions from" "the gap in orders is reported"
assert_contains "$ERR" "$part" "the detached table is named"
psql_q "ALTER TABLE public.orders ATTACH PARTITION $part FOR VALUES FROM ('$(psql_q "SELECT date_trunc('month', min(created_at)) FROM $part")') TO ('$(psql_q "SELECT date_trunc('month', min(created_at)) + interval '1 month' FROM $part")')"
run_cmd "$PARTMIG" verify -d "$T/mig"
assert_eq "$RC" 0 "verify passes once it is attached again ($ERR)"
assert_done
