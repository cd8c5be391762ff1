#!/usr/bin/env bash
# policy_evolve.sh: a converted table's policy changes online, each change one
# small new version: a list value whose rows sit in DEFAULT (moved, counted,
# nothing lost), default_partition off (refused while DEFAULT holds rows)
# and on, an index added and dropped, retention changed; a value added to an
# existing list and a new partition column are refused with a recipe.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
W=$PARTMIG_TEST_DIR
P=$W/policies; M=$W/mig; mkdir -p "$P"
fingerprint() { psql_q "SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM $1 t"; }
steps_of() { grep -o 'action=[a-z_]*' "$1" | tr '\n' ' '; }
compile() { run_cmd "$PARTMIG" compile "$P" -o "$M" "$@"; }
newest() { ls "$M"/*.sql | tail -1; }
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.events (id bigserial, region text NOT NULL, body text, PRIMARY KEY (id, region));
INSERT INTO public.events (region, body) SELECT (ARRAY['eu', 'us', 'apac'])[1 + g % 3], 'e' || g FROM generate_series(1, 300) g;
CREATE TABLE public.visits (id bigserial, at timestamptz NOT NULL, PRIMARY KEY (id, at));
INSERT INTO public.visits (at) SELECT timestamptz '2025-01-01 UTC' + g * interval '1 day' FROM generate_series(1, 60) g;
SQL
events() {
    cat >"$P/events.lua" <<LUA
partition "events" { by = "list", column = "region", default_partition = $1,
  values = { $2 }, indexes = { $3 } }
LUA
}
visits() {
    cat >"$P/visits.lua" <<LUA
partition "visits" { column = "at", interval = "1 month" $1 }
LUA
}
events true 'eu = { "eu" }, us = { "us" }' ''
visits ''
compile
assert_eq "$RC" 0 "first compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 0 "converted ($ERR)"
before=$(fingerprint public.events)
assert_eq "$(psql_q "SELECT count(*) FROM public.events_default WHERE region = 'apac'")" 100 "apac rows sit in DEFAULT"

# a new list value whose rows are in DEFAULT: moved, counted, nothing lost
events true 'eu = { "eu" }, us = { "us" }, apac = { "apac" }' ''
compile
assert_eq "$RC" 0 "compile: new list value ($ERR)"
assert_eq "$(steps_of "$(newest)")" "action=ensure_table action=premake action=register " "new list value: one small version"
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 0 "apply: new list value ($ERR)"
assert_contains "$OUT" "moved 100 row(s) from DEFAULT partition events_default into new partition events_apac" "the move is counted and said"
assert_eq "$(psql_q "SELECT count(*) FROM public.events_apac")" 100 "apac rows in their partition"
assert_eq "$(psql_q "SELECT count(*) FROM public.events_default")" 0 "DEFAULT no longer holds them"
assert_eq "$(fingerprint public.events)" "$before" "nothing lost, nothing changed"
assert_eq "$(psql_q "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.oid = 'public.events_apac'::regclass")" "FOR VALUES IN ('apac')" "attached with the policy's values"
assert_contains "$(psql_q "SELECT detail->>'mode' FROM partmig.steps WHERE version = 2 AND action = 'premake'")" "moved 100 row(s) from DEFAULT" "the ledger records the move"

# default_partition off: refused while DEFAULT holds a row, done once it is empty
psql_q "INSERT INTO public.events (region, body) VALUES ('latam', 'x')"
events false 'eu = { "eu" }, us = { "us" }, apac = { "apac" }' ''
compile
assert_eq "$RC" 0 "compile: default off ($ERR)"
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 2 "default off refused while DEFAULT holds a row"
assert_contains "$ERR" "holds 1 row(s)" "the refusal counts the rows"
assert_contains "$ERR" "partmig apply" "the refusal says what to run"
psql_q "DELETE FROM public.events WHERE region = 'latam'"
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 0 "default off once DEFAULT is empty ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.events'::regclass AND c.relpartbound IS NOT NULL AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'")" 0 "DEFAULT partition gone"
# and on again
events true 'eu = { "eu" }, us = { "us" }, apac = { "apac" }' ''
compile
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 0 "default on ($ERR)"
assert_eq "$(psql_q "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.oid = 'public.events_default'::regclass")" "DEFAULT" "DEFAULT partition back"
psql_q "INSERT INTO public.events (region, body) VALUES ('latam', 'y')"
assert_eq "$(psql_q "SELECT count(*) FROM public.events_default")" 1 "DEFAULT takes rows again"

# an index added, then dropped
events true 'eu = { "eu" }, us = { "us" }, apac = { "apac" }' '{ columns = { "body" } }'
compile
assert_eq "$(steps_of "$(newest)")" "action=sql action=build_index action=register " "index add: one small version"
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 0 "index added ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid WHERE c.relname LIKE 'events%' AND x.indexrelid::regclass::text LIKE '%body%'")" 5 "index on every partition and the parent"
events true 'eu = { "eu" }, us = { "us" }, apac = { "apac" }' ''
compile
assert_eq "$(steps_of "$(newest)")" "action=sql action=register " "index drop: one small version"
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 0 "index dropped ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname LIKE '%body%'")" 0 "index gone everywhere"

# retention: one version with its registration only
visits ', retention = { keep = "24 months" }'
compile
assert_eq "$(steps_of "$(newest)")" "action=register " "retention: one small version"
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 0 "retention change ($ERR)"
assert_eq "$(psql_q "SELECT policy->'retention'->>'keep' FROM partmig.policies WHERE table_name = 'public.visits'")" "24 months" "maintain reads the new retention"

# values added to an existing list: refused in place, with the recipe
events true 'eu = { "eu", "uk" }, us = { "us" }, apac = { "apac" }' ''
compile
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 2 "values added to an existing list are refused"
assert_contains "$ERR" "list partition \"eu\" has other values now" "the list is named"
assert_contains "$ERR" "new list entry" "the recipe is given"
# following the recipe closes the loop: the refused version is superseded
events true 'eu = { "eu" }, us = { "us" }, apac = { "apac" }, uk = { "uk" }' ''
compile
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 0 "the recipe applies ($ERR)"
assert_contains "$OUT" "superseded by" "the refused version is superseded"
assert_eq "$(psql_q "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.oid = 'public.events_uk'::regclass")" "FOR VALUES IN ('uk')" "uk partition made"

# a new partition column: refused at compile with the recipe
cat >"$P/visits.lua" <<'LUA'
partition "visits" { column = "id", interval = 1000 }
LUA
compile
assert_eq "$RC" 2 "a new partition column is refused at compile"
assert_contains "$ERR" "visits.lua:1:" "named file:line"
assert_contains "$ERR" "declare a new table" "the recipe is given"
assert_eq "$(fingerprint public.events | cut -d: -f1)" 301 "every row still there"
assert_done
