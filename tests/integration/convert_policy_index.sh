#!/usr/bin/env bash
# convert_policy_index.sh: a copy conversion builds the policy's own indexes
# before the swap, per partition beside the others, under staged names the
# swap renames: right after the swap each is on the new table, valid and
# attached on every partition, and the policy's build_index steps build
# nothing (no CREATE INDEX CONCURRENTLY reaches the server).  One policy
# index replaces an index the table has under the same name (which steps
# aside and comes back on rollback), the other is new.  The undo log's
# trigger is made before the swap too, and acts from the swap on.  Rollback before
# the swap, after it, and after the index steps were undone alone leaves
# no stray index.  A subpartitioned table too.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "log_statement = 'all'" "log_line_prefix = '%p %a: '"
LOG="$PARTMIG_TEST_DIR/server.log"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, status text, total numeric,
    created timestamptz NOT NULL);
INSERT INTO public.orders (customer_id, status, total, created)
  SELECT g % 500, 's' || (g % 5), g, timestamptz '2024-01-01' + (g % 200) * interval '1 day'
  FROM generate_series(1, 20000) g;
CREATE INDEX ON public.orders (customer_id);
ANALYZE public.orders;
SQL
old_ix=$(psql_q "SELECT 'public.orders_customer_id_idx'::regclass::oid")
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/o.lua" <<'LUA'
partition "orders" { column = "created", interval = "1 month", premake = 1, start = "2024-01-01",
  primary_key = { "id", "created" },
  indexes = { { columns = { "customer_id" } }, { columns = { "status", "created" }, name = "ix_status" } },
  existing = { method = "copy", jobs = 2 } }
LUA
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"

no_strays() { # no relation of the conversion is left, no policy index
    assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname LIKE 'pm%' OR relname LIKE '%partmig%' OR relname LIKE 'orders_p20%' OR relname = 'ix_status'")" 0 "$1: nothing of the conversion is left"
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" r "$1: orders is plain"
    assert_eq "$(psql_q "SELECT 'public.orders_customer_id_idx'::regclass::oid")" "$old_ix" "$1: the original index has its name"
    assert_eq "$(psql_q "SELECT indrelid::regclass::text FROM pg_index WHERE indexrelid = $old_ix")" orders "$1: on the original table"
    assert_eq "$(psql_q "SELECT count(*) FROM public.orders")" 20000 "$1: every row"
}

# 1. the swap cannot get its lock: the conversion stops before it, its
# policy indexes built on the new table under their staged names
psql -X -q -c "BEGIN; LOCK TABLE public.orders IN ACCESS SHARE MODE; SELECT pg_sleep(600)" >/dev/null 2>&1 &
HOLDER=$!
for _ in $(seq 1 100); do
    [ "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND state = 'active' AND pid <> pg_backend_pid()")" = 1 ] && break
    sleep 0.1
done
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --lock-retries 1
assert_eq "$RC" 1 "apply stops at the swap ($ERR)"
psql_q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()" >/dev/null
wait "$HOLDER" 2>/dev/null
assert_eq "$(psql_q "SELECT state FROM partmig.conversions")" verified "verified, not swapped"
nparts=$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.orders_partmig_new'::regclass")
for j in 0 1; do
    ix=$(psql_q "SELECT c.relname FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE i.indrelid = 'public.orders_partmig_new'::regclass AND c.relname LIKE 'pm%\_pix$j'")
    assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.$ix'::regclass")" "$nparts" "staged policy index $j attached on every partition before the swap"
    assert_eq "$(psql_q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.$ix'::regclass")" t "staged policy index $j valid"
done
assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname = 'ix_status'")" 0 "no index has the policy's name yet"
# the undo log's trigger is made before the swap, on the new table and each
# partition (the swap's lock window does not grow with the partitions)
assert_eq "$(psql_q "SELECT count(*) FROM pg_trigger WHERE tgname = 'partmig_reverse' AND tgrelid IN (SELECT 'public.orders_partmig_new'::regclass UNION ALL SELECT inhrelid FROM pg_inherits WHERE inhparent = 'public.orders_partmig_new'::regclass)")" "$nparts" "partmig_reverse on every partition of the new table (not on the table) before the swap"
run_cmd "$PARTMIG" rollback --to 0 -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "rollback before the swap ($ERR)"
no_strays "rollback before the swap"
assert_eq "$(psql_q "SELECT count(*) FROM pg_proc WHERE proname LIKE 'conv\\_%'")" 0 "rollback before the swap: no trigger function left"

# 2. the whole conversion: every policy index exists, valid and attached,
# right after the swap; the build_index steps build nothing
start_line=$(wc -l <"$LOG")
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply converts ($ERR)"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" p "orders is partitioned"
nparts=$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.orders'::regclass")
for ix in orders_customer_id_idx ix_status; do
    assert_eq "$(psql_q "SELECT indrelid::regclass::text FROM pg_index WHERE indexrelid = 'public.$ix'::regclass")" orders "$ix is the new table's"
    assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.$ix'::regclass")" "$nparts" "$ix attached on every partition"
    assert_eq "$(psql_q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.$ix'::regclass")" t "$ix valid"
done
swap_log=$(tail -n +"$((start_line + 1))" "$LOG")
assert_contains "$swap_log" "RENAME TO \"ix_status\"" "the swap names the policy's index"
assert_not_contains "$swap_log" "CREATE INDEX CONCURRENTLY" "no index is built after the swap"
assert_not_contains "$swap_log" 'ON ONLY "public"."orders" ' "the policy's index steps after the swap send nothing that waits for a lock on the table (the indexes are there)"
trigger_at=$(echo "$swap_log" | grep -n "CREATE TRIGGER partmig_reverse" | head -1 | cut -d: -f1)
[ -n "$trigger_at" ] || trigger_at=$(echo "$swap_log" | grep -n "conversion_install_undo_log" | head -1 | cut -d: -f1)
lock_at=$(echo "$swap_log" | grep -n 'LOCK TABLE "public"."orders_partmig_new", "public"."orders" IN ACCESS EXCLUSIVE MODE' | head -1 | cut -d: -f1)
assert_eq "$([ -n "$trigger_at" ] && [ -n "$lock_at" ] && [ "$trigger_at" -lt "$lock_at" ] && echo before)" before "the undo log's trigger is made before the swap's lock ($trigger_at, $lock_at)"
assert_eq "$(psql_q "SELECT count(*) FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indrelid WHERE h.inhparent = 'public.orders'::regclass")" "$((3 * nparts))" "three indexes per partition, none twice"
assert_eq "$(psql_q "SELECT count(*) FROM partmig.step_objects WHERE kind = 'index'")" "$((2 * nparts))" "the build_index steps record the partitions' indexes"
run_cmd "$PARTMIG" verify -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "verify ($OUT $ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM pg_index WHERE indrelid = 'public.orders_partmig_old'::regclass AND indexrelid = $old_ix")" 1 "the old index stays on the kept table"
psql_q "INSERT INTO public.orders (customer_id, status, total, created) VALUES (7, 'x', 1, '2024-03-03')" >/dev/null
assert_eq "$(psql_q "SELECT count(*) FROM public.orders WHERE status = 'x'")" 1 "the write after the swap is in the new table"
cid=$(psql_q "SELECT id FROM partmig.conversions WHERE table_name = 'orders' ORDER BY id DESC LIMIT 1")
assert_eq "$(psql_q "SELECT count(*) FROM public.orders o WHERE o.status = 'x' AND $(written_since_swap "$cid" o)")" 1 "a write after the swap is one the swap's snapshot did not see"
run_cmd "$PARTMIG" rollback --to 0 -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "rollback after the swap ($ERR)"
psql_q "DELETE FROM public.orders WHERE status = 'x'" >/dev/null
no_strays "rollback after the swap"

# 3. the policy's index steps undone alone (dropping ix_status), then the
# conversion
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply converts again ($ERR)"
run_cmd "$PARTMIG" rollback --to 1:4 -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "rollback of the later index steps ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname = 'ix_status'")" 0 "ix_status dropped by its step's undo"
run_cmd "$PARTMIG" rollback --to 0 -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "rollback of the conversion ($ERR)"
no_strays "rollback after the index steps"

# 4. a subpartitioned table (its indexes built on the parent, recursing):
# the policy's index too, before the swap, on every leaf (its own database)
psql_q "CREATE DATABASE d2" >/dev/null
export PGDATABASE=d2
psql_q "CREATE TABLE public.readings (id bigserial PRIMARY KEY, sensor_id int NOT NULL, v int, taken_at timestamptz NOT NULL);
        INSERT INTO public.readings (sensor_id, v, taken_at)
          SELECT g % 50, g, now() - (g % 90) * interval '1 day' FROM generate_series(1, 5000) g" >/dev/null
rm -rf "$POL" "$PARTMIG_TEST_DIR/mig2"
mkdir -p "$POL"
cat >"$POL/r.lua" <<'LUA'
partition "readings" { column = "taken_at", interval = "1 month", premake = 1,
  subpartition = { by = "hash", column = "sensor_id", modulus = 4 }, primary_key = { "id", "taken_at", "sensor_id" },
  indexes = { { columns = { "v" } } } }
LUA
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig2"
assert_eq "$RC" 0 "compile the subpartitioned policy ($ERR)"
start_line=$(wc -l <"$LOG")
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig2"
assert_eq "$RC" 0 "apply converts the subpartitioned table ($ERR)"
assert_eq "$(psql_q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.readings_v_idx'::regclass")" t "readings_v_idx valid"
assert_eq "$(psql_q "SELECT count(*) FROM pg_partition_tree('public.readings_v_idx') WHERE isleaf")" "$(psql_q "SELECT count(*) FROM pg_partition_tree('public.readings') WHERE isleaf")" "readings_v_idx on every leaf"
assert_not_contains "$(tail -n +"$((start_line + 1))" "$LOG")" "CREATE INDEX CONCURRENTLY" "subpartitioned: no index is built after the swap"
run_cmd "$PARTMIG" rollback --to 0 -d "$PARTMIG_TEST_DIR/mig2"
assert_eq "$RC" 0 "rollback of the subpartitioned table ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname LIKE 'pm%' OR relname LIKE '%partmig%' OR relname LIKE 'readings\_p2%' OR relname = 'readings_v_idx'")" 0 "subpartitioned: nothing of the conversion is left"
assert_done
