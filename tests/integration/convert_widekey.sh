#!/usr/bin/env bash
# convert_widekey.sh: a primary key of 32 columns (PostgreSQL's most) is
# walked by the copy like any other: the key parameters of the job ranges
# and batches are sized from the key, not from a fixed array.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
cols=$(for i in $(seq 1 31); do printf 'k%d int NOT NULL, ' "$i"; done)
keys=$(for i in $(seq 1 31); do printf 'k%d, ' "$i"; done)
vals=$(for i in $(seq 1 31); do printf '(g / %d)::int, ' "$i"; done)
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE public.wide ($cols note text, created_at timestamptz NOT NULL, PRIMARY KEY (${keys}created_at));
INSERT INTO public.wide SELECT $vals md5(g::text), timestamptz '2025-01-01 UTC' + g * interval '10 minutes'
FROM generate_series(1, 6000) g;
ANALYZE public.wide;
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
echo 'partition "wide" { column = "created_at", interval = "1 month", premake = 1 }' >"$POL/wide.lua"
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null
fp() { psql_q "SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY t.created_at)) FROM public.$1 t"; }
want=$(fp wide)
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --jobs 2 --batch-size 500
assert_eq "$RC" 0 "apply converts a table with a 32-column key ($(echo "$ERR" | grep -v note: | tail -3))"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.wide'::regclass")" p "wide is partitioned"
assert_eq "$(fp wide)" "$want" "every row converted"
assert_eq "$(psql_q "SELECT count(DISTINCT job) FROM partmig.batches")" 2 "two jobs, each with its key range"
assert_done
