#!/usr/bin/env bash
# convert_outside.sh: rows written during a copy conversion whose partition
# key no partition of the new table covers (beyond the premake window).
# Range: an UPDATE before the row's batch (backfill) and an INSERT (change
# re-copy) get partitions of their own, named and bounded like the others,
# and the conversion finishes with every row.  List without DEFAULT: the
# apply fails naming the key and the fix.  With a DEFAULT partition: the
# row goes there and is reported.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.entries (id bigserial PRIMARY KEY, region text NOT NULL, amount int NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO public.entries (region, amount, created_at)
SELECT CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g, now() - interval '60 days' + g * interval '1 minute'
FROM generate_series(1, 40000) g;
CREATE TABLE public.regional (LIKE public.entries INCLUDING ALL);
INSERT INTO public.regional SELECT * FROM public.entries;
CREATE TABLE public.withdef (LIKE public.entries INCLUDING ALL);
INSERT INTO public.withdef SELECT * FROM public.entries;
SQL
POL="$PARTMIG_TEST_DIR/policies"
fp() { psql_q "SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY t.id)) FROM public.$1 t"; }
state() { psql_q "SELECT state FROM partmig.conversions WHERE table_name = '$1' ORDER BY id DESC LIMIT 1" 2>/dev/null; }
wait_state() { for _ in $(seq 1 300); do [ "$(state "$1")" = "$2" ] && return 0; sleep 0.05; done; return 1; }
convert() { # TABLE POLICY_TEXT: add the policy, compile, apply in the background ($apid)
    mkdir -p "$POL"
    echo "$2" >"$POL/$1.lua"
    "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null
    "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --batch-size 2000 --sleep 100 >"$PARTMIG_TEST_DIR/$1.out" 2>&1 &
    apid=$!
}

# range, no DEFAULT: one row moved and one written a year ahead
convert entries 'partition "entries" { column = "created_at", interval = "1 month", premake = 1, primary_key = { "id", "created_at" } }'
wait_state entries backfilling
psql_q "UPDATE public.entries SET created_at = now() + interval '13 months' WHERE id = 39990"
psql_q "INSERT INTO public.entries (region, amount, created_at) VALUES ('eu', -1, now() + interval '1 year')"
wait "$apid"
rc=$?
cat "$PARTMIG_TEST_DIR/entries.out"
assert_eq "$rc" 0 "apply converts with rows outside the premake window"
assert_eq "$(state entries)" swapped "conversion finished"
assert_eq "$(fp entries)" "$(fp entries_partmig_old)" "every row in the converted table"
part() { psql_q "SELECT tableoid::regclass::text FROM public.entries WHERE $1"; }
assert_eq "$(part "amount = -1")" "entries_p$(psql_q "SELECT to_char(now() AT TIME ZONE 'UTC' + interval '1 year', 'YYYY_MM')")" "the inserted row has a partition named like the others"
assert_eq "$(part "id = 39990")" "entries_p$(psql_q "SELECT to_char(now() AT TIME ZONE 'UTC' + interval '13 months', 'YYYY_MM')")" "the moved row has its partition"
assert_contains "$(cat "$PARTMIG_TEST_DIR/entries.out")" "added partition(s)" "the new partitions are reported"

# list without DEFAULT: a value no list has
convert regional 'partition "regional" { column = "region", by = "list", values = { eu = { "eu" }, us = { "us" } }, primary_key = { "id", "region" } }'
wait_state regional backfilling
psql_q "INSERT INTO public.regional (region, amount) VALUES ('apac', -2)"
wait "$apid"
rc=$?
out=$(cat "$PARTMIG_TEST_DIR/regional.out")
echo "$out"
assert_eq "$rc" 1 "apply fails on a value no list has"
assert_contains "$out" "region=apac" "the message names the value"
assert_contains "$out" "id=$(psql_q "SELECT id FROM public.regional WHERE region = 'apac'")" "the message names the key"
assert_contains "$out" "hint: add the value to the policy's lists" "the hint says how to fix it"
psql_q "UPDATE public.regional SET region = 'eu' WHERE region = 'apac'"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "fixed, apply finishes the conversion ($ERR)"
assert_eq "$(fp regional)" "$(fp regional_partmig_old)" "every row in the converted list table"

# range with a DEFAULT partition: the row goes there, reported
convert withdef 'partition "withdef" { column = "created_at", interval = "1 month", premake = 1, default_partition = true, primary_key = { "id", "created_at" } }'
wait_state withdef backfilling
psql_q "INSERT INTO public.withdef (region, amount, created_at) VALUES ('eu', -3, now() + interval '1 year')"
wait "$apid"
rc=$?
out=$(cat "$PARTMIG_TEST_DIR/withdef.out")
echo "$out" | grep -v "note:"
assert_eq "$(state withdef)" swapped "the conversion with a DEFAULT partition finished"
assert_eq "$(psql_q "SELECT tableoid::regclass::text FROM public.withdef WHERE amount = -3")" withdef_default "the row is in the DEFAULT partition"
assert_contains "$out" "1 rows are in the DEFAULT partition" "and that is reported"
# the whole apply succeeds, and status keeps reporting the row in DEFAULT
assert_eq "$rc" 0 "the whole apply succeeds"
dr=$("$PARTMIG" status --json | python3 -c 'import json,sys; print([t["default_rows"] for t in json.load(sys.stdin)["tables"] if t["table"] == "public.withdef"][0])')
assert_eq "$dr" 1 "status reports the row in DEFAULT"
# the drain waits while the old table is still the rollback point ...
run_cmd "$PARTMIG" maintain --drain-default
assert_eq "$RC" 0 "maintain --drain-default before finalize ($ERR)"
assert_contains "$OUT" "--drain-default waits until the conversion is finalized" "the drain waits for finalize"
assert_eq "$(psql_q "SELECT tableoid::regclass::text FROM public.withdef WHERE amount = -3")" withdef_default "the row stays in DEFAULT"
# ... and moves the row once the conversion is finalized
run_cmd "$PARTMIG" finalize public.withdef
assert_eq "$RC" 0 "finalize ($ERR)"
run_cmd "$PARTMIG" maintain --drain-default
assert_eq "$RC" 0 "maintain --drain-default after finalize ($ERR)"
assert_eq "$(psql_q "SELECT tableoid::regclass::text <> 'withdef_default' FROM public.withdef WHERE amount = -3")" t "the row left DEFAULT for its own partition"
assert_done
