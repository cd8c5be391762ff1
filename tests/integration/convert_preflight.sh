#!/usr/bin/env bash
# convert_preflight.sh: a table with many problems is refused before any
# change, every problem reported at once with its fix, and the schema is
# byte-for-byte what it was (pg_dump --schema-only before and after).
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
# the schema without the ledger; pg_dump's random \restrict keys left out
schema_dump() { pg_dump --schema-only --exclude-schema=partmig | grep -Ev '^\\(un)?restrict '; }
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.orders (id serial PRIMARY KEY, total numeric, created_at timestamptz);
INSERT INTO public.orders (total, created_at)
SELECT g, timestamptz '2024-06-01 00:00 UTC' + g * interval '1 day' FROM generate_series(1, 400) g;
INSERT INTO public.orders (total, created_at) VALUES (1, NULL), (2, NULL);
CREATE TABLE public.order_lines (id serial PRIMARY KEY, order_id int REFERENCES public.orders (id));
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON public.orders FOR EACH ROW EXECUTE FUNCTION public.touch();
CREATE MATERIALIZED VIEW public.order_totals AS SELECT sum(total) FROM public.orders;
CREATE UNIQUE INDEX orders_total_key ON public.orders (total, id);
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/orders.lua" <<'LUA'
partition "orders" { column = "created_at", interval = "1 month", start = "2025-01-01" }
LUA
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"
schema_dump >"$PARTMIG_TEST_DIR/before.sql"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
echo "$ERR"
assert_eq "$([ "$RC" -ne 0 ] && echo refused)" refused "apply is refused"
assert_contains "$ERR" "lacks the partition column" "primary key lacking the partition key"
assert_contains "$ERR" 'primary_key = { "id", "created_at" }' "the fix for the key is proposed"
assert_contains "$ERR" 'foreign key "order_lines_order_id_fkey" on table public.order_lines' "referencing foreign key named"
assert_contains "$ERR" "2 NULL values" "NULL partition keys counted"
assert_contains "$ERR" 'trigger "orders_touch"' "trigger reported"
assert_contains "$ERR" "materialized view public.order_totals" "materialized view reported"
assert_contains "$ERR" 'unique index "orders_total_key"' "unique index lacking the key reported"
assert_contains "$ERR" "nothing was changed" "the refusal says nothing changed"
schema_dump >"$PARTMIG_TEST_DIR/after.sql"
if cmp -s "$PARTMIG_TEST_DIR/before.sql" "$PARTMIG_TEST_DIR/after.sql"; then pass; else fail "schema changed by a refused apply"; diff "$PARTMIG_TEST_DIR/before.sql" "$PARTMIG_TEST_DIR/after.sql" | head; fi
assert_eq "$(psql_q "SELECT count(*) FROM partmig.conversions")" 0 "no conversion recorded"

# fix the NULLs and nullability; rows before `start` are then the problem
psql_q "DROP MATERIALIZED VIEW public.order_totals; DROP TRIGGER orders_touch ON public.orders; DROP TABLE public.order_lines; DROP INDEX public.orders_total_key"
psql_q "UPDATE public.orders SET created_at = timestamptz '2025-03-01 UTC' WHERE created_at IS NULL; ALTER TABLE public.orders ALTER COLUMN created_at SET NOT NULL"
cat >"$POL/orders.lua" <<'LUA'
partition "orders" { column = "created_at", interval = "1 month", start = "2025-01-01", primary_key = { "id", "created_at" } }
LUA
rm -rf "$PARTMIG_TEST_DIR/mig"; psql_q "DROP SCHEMA partmig CASCADE" 2>/dev/null
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null
schema_dump >"$PARTMIG_TEST_DIR/before.sql"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$([ "$RC" -ne 0 ] && echo refused)" refused "rows before start are refused"
echo "$ERR"
assert_contains "$ERR" "213 rows of \"orders\" are outside the partitions' coverage (min 2024-06-02" "count, min and max of uncovered rows"
assert_not_contains "$ERR" "lacks the partition column" "primary_key in the policy fixes the key problem"
schema_dump >"$PARTMIG_TEST_DIR/after.sql"
if cmp -s "$PARTMIG_TEST_DIR/before.sql" "$PARTMIG_TEST_DIR/after.sql"; then pass; else fail "schema changed by the second refused apply"; fi

# without start the partitions follow the data: converted, nothing lost
cat >"$POL/orders.lua" <<'LUA'
partition "orders" { column = "created_at", interval = "1 month", primary_key = { "id", "created_at" } }
LUA
rm -rf "$PARTMIG_TEST_DIR/mig"; psql_q "DROP SCHEMA partmig CASCADE" 2>/dev/null
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "without start the conversion goes through ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM public.orders")" 402 "every row converted"
assert_eq "$(psql_q "SELECT min(c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.orders'::regclass")" orders_p2024_06 "first partition aligned to the oldest row's month"
assert_done
