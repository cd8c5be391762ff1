#!/usr/bin/env bash
# convert_unanalyzed.sh: --jobs 2 copies in two jobs also when the table was
# never analyzed (reltuples = -1): an integer key is split over [min, max],
# other keys at the quantiles of one exact count.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "autovacuum = off"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.byint (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, note text);
INSERT INTO public.byint SELECT g * 3, timestamptz '2025-01-01 UTC' + g * interval '5 minutes', md5(g::text)
FROM generate_series(1, 20000) g;
CREATE TABLE public.bytext (code text PRIMARY KEY, created_at timestamptz NOT NULL);
INSERT INTO public.bytext SELECT md5(g::text), timestamptz '2025-01-01 UTC' + g * interval '5 minutes'
FROM generate_series(1, 20000) g;
SQL
assert_eq "$(psql_q "SELECT string_agg(reltuples::text, ',' ORDER BY relname) FROM pg_class WHERE relname IN ('byint', 'bytext')")" "-1,-1" "never analyzed"
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/t.lua" <<'LUA'
partition "byint" { column = "created_at", interval = "1 month", premake = 1, primary_key = { "id", "created_at" } }
partition "bytext" { column = "created_at", interval = "1 month", premake = 1, primary_key = { "code", "created_at" } }
LUA
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null
fp() { psql_q "SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY t::text)) FROM public.$1 t"; }
want_int=$(fp byint) want_text=$(fp bytext)
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --jobs 2 --batch-size 1000
assert_eq "$RC" 0 "apply ($ERR)"
for t in byint bytext; do
    assert_eq "$(psql_q "SELECT count(DISTINCT b.job) || ':' || min(n) FROM partmig.batches b JOIN partmig.conversions c ON c.id = b.conversion JOIN (SELECT conversion, job, sum(copied_rows) n FROM partmig.batches GROUP BY 1, 2) j ON j.conversion = b.conversion AND j.job = b.job WHERE c.table_name = '$t' HAVING true" | cut -d: -f1)" 2 "$t: copied in two jobs"
    assert_eq "$(psql_q "SELECT min(n) > 5000 FROM (SELECT sum(copied_rows) n FROM partmig.batches b JOIN partmig.conversions c ON c.id = b.conversion WHERE c.table_name = '$t' GROUP BY job) j")" t "$t: each job copies a fair share"
done
assert_eq "$(fp byint)" "$want_int" "byint: every row"
assert_eq "$(fp bytext)" "$want_text" "bytext: every row"
assert_done
