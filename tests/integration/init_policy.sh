#!/usr/bin/env bash
# init_policy.sh: partmig init writes a starting policy from the catalog and
# the data, and that policy, applied as is (compile + apply), converts the ERP
# demo tables, a table with no date column and one whose timestamp is
# nullable, every row kept.  Also: an index leads the choice between two
# timestamps, a warning past 1,000 partitions, and the refusals.
. tests/lib/assert.sh
. tests/lib/pg.sh
pg_start
tmp=$PARTMIG_TEST_DIR/init
mkdir -p "$tmp"

psql -X -q -v ON_ERROR_STOP=1 -f tests/fixtures/erp_schema.sql
bash tests/fixtures/erp_data.sh 40000 >/dev/null
psql_q "CREATE TABLE public.items (id integer PRIMARY KEY, sku text NOT NULL, price numeric(10, 2));
        INSERT INTO public.items SELECT g * 3, 'sku-' || g, g % 100 FROM generate_series(1, 30000) g;
        CREATE TABLE public.sessions (id bigserial PRIMARY KEY, user_name text NOT NULL, seen_at timestamptz);
        INSERT INTO public.sessions (user_name, seen_at)
          SELECT 'u' || g, CASE WHEN g % 10 = 0 THEN NULL ELSE now() - g * interval '1 hour' END
          FROM generate_series(1, 5000) g;
        CREATE TABLE public.shipments (id bigint PRIMARY KEY, created_at timestamptz NOT NULL,
          shipped_at timestamptz NOT NULL, carrier text NOT NULL);
        CREATE INDEX shipments_shipped_idx ON public.shipments (shipped_at);
        CREATE INDEX shipments_carrier_idx ON public.shipments USING hash (carrier);
        CREATE INDEX shipments_lower_carrier_idx ON public.shipments (lower(carrier));
        INSERT INTO public.shipments SELECT g, now() - g * interval '1 day', now() - g * interval '1 day' + interval '2 days',
          'c' || (g % 5) FROM generate_series(1, 800) g;
        CREATE TABLE public.counters (id integer PRIMARY KEY);
        INSERT INTO public.counters SELECT generate_series(1, 150000);
        CREATE TABLE public.notes (body text NOT NULL, tag text);
        INSERT INTO public.notes VALUES ('a', 'b');
        ANALYZE" >/dev/null
TABLES="journal_entries audit_logs workflow_logs items sessions shipments"
for t in $TABLES; do
    psql_q "CREATE TABLE public.expected_$t AS SELECT * FROM public.$t" >/dev/null
done

# --- the policy init writes, and what it chose ----------------------------------
run_cmd "$PARTMIG" init journal_entries public.audit_logs workflow_logs items sessions shipments -o "$tmp/tables.lua"
assert_eq "$RC" 0 "init exit code: $ERR"
assert_contains "$(cat "$tmp/tables.lua")" "-- default_partition = true," "init offers a DEFAULT partition for back-dated rows, commented"
policy=$(cat "$tmp/tables.lua")
entry() { awk -v t="partition \"$1\"" '$0 ~ t {on=1} on {print} on && /^}/ {exit}' "$tmp/tables.lua"; }
je=$(entry journal_entries)
assert_contains "$je" 'column = "created_at",' "journal_entries: the NOT NULL timestamptz"
assert_contains "$je" 'primary_key = { "id", "created_at" },' "journal_entries: the key plus the column"
assert_contains "$je" '{ columns = { "tenant_id" } },  -- journal_entries_tenant_idx' "journal_entries: its index"
assert_contains "$je" 'rows a day over 730 days' "journal_entries: the interval explained"
assert_contains "$je" 'interval = "1 year",' "journal_entries: about 55 rows a day -> the longest interval"
assert_contains "$(entry audit_logs)" '{ columns = { "tenant_id", "created_at" } },' "audit_logs: its two-column index"
assert_contains "$(entry workflow_logs)" 'primary_key = { "id", "run_at" },' "workflow_logs: the key plus run_at"
it=$(entry items)
assert_contains "$it" 'column = "id",' "items (no date column): the integer key"
assert_contains "$it" 'no NOT NULL timestamptz, timestamp or date column' "items: why an integer key"
assert_contains "$it" 'interval = 20000000,' "items: 30,000 rows over 90,000 keys -> a step of 20,000,000 keys (5M rows)"
assert_contains "$it" 'primary_key = { "id" },' "items: the key includes the column already"
se=$(entry sessions)
assert_contains "$se" 'column = "id",' "sessions (nullable timestamp): not partitioned by seen_at"
assert_contains "$se" 'seen_at (timestamp with time zone) is nullable' "sessions: the nullable column explained"
assert_contains "$se" 'ALTER COLUMN seen_at SET NOT NULL' "sessions: how to use it instead"
sh=$(entry shipments)
assert_contains "$sh" 'column = "shipped_at",' "shipments: the timestamp an index leads"
assert_contains "$sh" 'other candidates: created_at' "shipments: the other candidate named"
assert_contains "$sh" '{ columns = { "carrier" }, method = "hash" },' "shipments: a hash index keeps its method"
assert_contains "$sh" 'shipments_lower_carrier_idx: on expressions' "shipments: an expression index is explained"
assert_not_contains "$policy" "WARNING" "no partition-count warning for these tables"

# --- applied as is: compile + apply -----------------------------------------------
run_cmd "$PARTMIG" compile "$tmp/tables.lua" -o "$tmp/migrations"
assert_eq "$RC" 0 "compile of init's policy: $ERR"
run_cmd "$PARTMIG" apply -d "$tmp/migrations"
assert_eq "$RC" 0 "apply of init's policy: $ERR"
for t in $TABLES; do
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.$t'::regclass")" p "$t is partitioned"
    assert_eq "$(psql_q "SELECT (SELECT md5(string_agg(x::text, '|' ORDER BY x.id)) FROM public.$t x) =
                               (SELECT md5(string_agg(y::text, '|' ORDER BY y.id)) FROM public.expected_$t y)")" t \
        "$t: the rows equal the original's"
    assert_eq "$(psql_q "SELECT count(*) FROM public.$t")" "$(psql_q "SELECT count(*) FROM public.expected_$t")" \
        "$t: as many rows"
done
run_cmd "$PARTMIG" verify -d "$tmp/migrations"
assert_eq "$RC" 0 "verify after apply: $ERR"

# --- a warning past 1,000 partitions ----------------------------------------------
run_cmd "$PARTMIG" init --rows-per-partition 100 counters
assert_eq "$RC" 0 "init with small partitions: $ERR"
assert_contains "$OUT" "-- WARNING: about 1,503 partitions" "150,000 keys in steps of 100: a warning in the policy"
assert_contains "$OUT" "more than 1,000" "the warning names the limit"

# --- refusals ---------------------------------------------------------------------
run_cmd "$PARTMIG" init notes
assert_eq "$RC" 2 "a table without a column to partition by"
assert_contains "$ERR" 'table "public.notes": no NOT NULL timestamptz, timestamp, date or integer column' "why"
assert_contains "$ERR" "hint: partition it by list or hash by hand" "what to do"
run_cmd "$PARTMIG" init public.nosuch
assert_eq "$RC" 2 "a missing table"
assert_contains "$ERR" 'table "public.nosuch" does not exist' "a missing table is named"
run_cmd "$PARTMIG" init journal_entries
assert_eq "$RC" 2 "a partitioned table"
assert_contains "$ERR" "partitioned already" "a partitioned table is refused"
run_cmd "$PARTMIG" init counters -o "$tmp/tables.lua"
assert_eq "$RC" 2 "an existing output file"
assert_contains "$ERR" "exists already" "an existing policy is never overwritten"
run_cmd "$PARTMIG" init
assert_eq "$RC" 2 "no table named"
assert_done
