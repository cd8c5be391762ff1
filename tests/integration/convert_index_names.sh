#!/usr/bin/env bash
# convert_index_names.sh: an index the table has under PostgreSQL's default
# name (CREATE INDEX ON orders (customer_id) -> orders_customer_id_idx) that
# the policy declares too ends on the converted table and each partition
# under that name; the old index steps aside and comes back on rollback;
# apply again is a no-op.  A policy index whose name an unrelated index has
# is refused before anything changes.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, status text, total numeric,
    created timestamptz NOT NULL);
INSERT INTO public.orders (customer_id, status, total, created)
  SELECT g % 500, 's' || (g % 5), g, now() - (g % 90) * interval '1 day' FROM generate_series(1, 20000) g;
CREATE INDEX ON public.orders (customer_id);
CREATE INDEX ON public.orders (status);
SQL
old_ix=$(psql_q "SELECT 'public.orders_customer_id_idx'::regclass::oid")
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/o.lua" <<'LUA'
partition "orders" { column = "created", interval = "1 month", premake = 1,
  primary_key = { "id", "created" }, indexes = { { columns = { "customer_id" } } },
  existing = { method = "copy" } }
LUA
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply converts and builds the policy's index ($ERR)"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" p "orders is partitioned"
assert_eq "$(psql_q "SELECT i.indrelid::regclass::text || ' ' || c.relkind::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indexrelid = 'public.orders_customer_id_idx'::regclass")" "orders I" "orders_customer_id_idx is the new table's partitioned index"
nparts=$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.orders'::regclass")
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.orders_customer_id_idx'::regclass")" "$nparts" "every partition's index is attached to it"
assert_eq "$(psql_q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.orders_customer_id_idx'::regclass")" t "and it is valid"
assert_eq "$(psql_q "SELECT indrelid::regclass::text FROM pg_index WHERE indexrelid = 'public.orders_status_idx'::regclass")" orders "the index the policy does not name is carried over under its name"
assert_eq "$(psql_q "SELECT count(*) FROM pg_index WHERE indrelid = 'public.orders_partmig_old'::regclass AND indexrelid = $old_ix")" 1 "the old index stays on the kept table"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply again ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.orders_customer_id_idx'::regclass")" "$nparts" "apply again changes nothing"
run_cmd "$PARTMIG" rollback --to 0 -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "rollback ($ERR)"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" r "orders is plain again"
assert_eq "$(psql_q "SELECT 'public.orders_customer_id_idx'::regclass::oid")" "$old_ix" "the original index has its name back"
assert_eq "$(psql_q "SELECT indrelid::regclass::text FROM pg_index WHERE indexrelid = $old_ix")" orders "on the original table"
assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname LIKE 'pm%' OR relname LIKE '%partmig%'")" 0 "nothing of the conversion is left"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply after rollback ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.orders_customer_id_idx'::regclass")" "$nparts" "converted again with the index"

# a policy index whose name an unrelated index has: refused, nothing changed
psql_q "CREATE DATABASE d2"
export PGDATABASE=d2
psql_q "CREATE TABLE public.orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, created timestamptz NOT NULL);
        CREATE INDEX orders_customer_id_idx ON public.orders (created)"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 2 "a policy index under an unrelated index's name is refused"
assert_contains "$ERR" "the policy's index \"orders_customer_id_idx\" has the name of an existing index on public.orders" "the message names it"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" r "orders unchanged"
assert_done
