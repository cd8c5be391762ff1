#!/usr/bin/env bash
# fix_loop.sh: following a refusal's fix literally -- edit the policy,
# `partmig compile`, `partmig apply` -- converts the table, for three
# pre-flight refusals (missing primary_key, rows before `start`, list values
# missing for existing rows); a recompiled version that committed nothing
# is accepted; a version applied somewhere else (staging) is never rewritten.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
W=$PARTMIG_TEST_DIR
fingerprint() { psql_q "SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM $1 t"; }
parted() { psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.$1'::regclass"; }

# each scenario has a database (and a ledger) of its own
for db in s1 s2 s3; do psql_q "CREATE DATABASE $db"; done
export PGDATABASE=s1
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.orders (id bigserial PRIMARY KEY, total int, created_at timestamptz NOT NULL);
INSERT INTO public.orders (total, created_at)
SELECT g, timestamptz '2024-06-01 00:00 UTC' + g * interval '1 day' FROM generate_series(1, 300) g;
SQL
export PGDATABASE=s3
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.events (id bigserial, region text NOT NULL, body text, PRIMARY KEY (id, region));
INSERT INTO public.events (region, body) SELECT (ARRAY['eu', 'us', 'apac'])[1 + g % 3], 'e' || g FROM generate_series(1, 90) g;
SQL
export PGDATABASE=s2
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.visits (id bigserial, at timestamptz NOT NULL, PRIMARY KEY (id, at));
INSERT INTO public.visits (at) SELECT timestamptz '2024-11-01 UTC' + g * interval '1 day' FROM generate_series(1, 120) g;
SQL
orders_before=$(PGDATABASE=s1 fingerprint public.orders)
events_before=$(PGDATABASE=s3 fingerprint public.events)
visits_before=$(PGDATABASE=s2 fingerprint public.visits)

# ---- 1. missing primary_key ----
export PGDATABASE=s1
P=$W/p1; M=$W/m1; mkdir -p "$P"
cat >"$P/orders.lua" <<'LUA'
partition "orders" { column = "created_at", interval = "1 month" }
LUA
run_cmd "$PARTMIG" compile "$P" -o "$M"
assert_eq "$RC" 0 "orders: compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 2 "orders: apply refused with exit 2"
assert_contains "$ERR" 'primary_key = { "id", "created_at" }' "orders: the refusal proposes the primary key"
assert_contains "$ERR" '"partmig compile"' "orders: the hint names the command between edit and apply"
cat >"$P/orders.lua" <<'LUA'
partition "orders" { column = "created_at", interval = "1 month", primary_key = { "id", "created_at" } }
LUA
run_cmd "$PARTMIG" compile "$P" -o "$M"
assert_eq "$RC" 0 "orders: compile after the fix ($ERR)"
assert_contains "$OUT" "0002_orders_relayout.sql" "orders: the fix compiles into a relayout version"
assert_contains "$OUT" "partmig apply" "orders: compile says what apply does next"
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 0 "orders: apply after the fix ($ERR)"
assert_contains "$OUT" "superseded by 0002" "orders: the unfinished version 1 is superseded, said so"
assert_eq "$(parted orders)" p "orders: converted"
assert_eq "$(fingerprint public.orders)" "$orders_before" "orders: rows identical"
assert_eq "$(psql_q "SELECT detail->>'mode' FROM partmig.steps WHERE version = 1 AND step = 1")" "superseded by 0002" "orders: the ledger records the supersede"
assert_eq "$(psql_q "SELECT string_agg(state, ',' ORDER BY version) FROM partmig.migrations")" "applied,applied" "orders: both versions applied"
run_cmd "$PARTMIG" apply -d "$M"
assert_contains "$OUT" "nothing to apply" "orders: a second apply does nothing"
run_cmd "$PARTMIG" verify -d "$M"
assert_eq "$RC" 0 "orders: verify passes ($OUT $ERR)"

# ---- 2. rows before `start`; staging applied version 1 ----
export PGDATABASE=s2
psql_q "CREATE DATABASE staging"
psql -X -q -v ON_ERROR_STOP=1 -d staging <<'SQL'
CREATE TABLE public.visits (id bigserial, at timestamptz NOT NULL, PRIMARY KEY (id, at));
INSERT INTO public.visits (at) SELECT timestamptz '2025-01-02 UTC' + g * interval '1 hour' FROM generate_series(1, 50) g;
SQL
P=$W/p2; M=$W/m2; mkdir -p "$P"
cat >"$P/visits.lua" <<'LUA'
partition "visits" { column = "at", interval = "1 month", start = "2025-01-01" }
LUA
"$PARTMIG" compile "$P" -o "$M" >/dev/null
run_cmd "$PARTMIG" apply -d "$M" --db "dbname=staging"
assert_eq "$RC" 0 "visits: staging converts version 1 ($ERR)"
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 2 "visits: apply refused (rows before start)"
assert_contains "$ERR" "are outside the partitions' coverage" "visits: the refusal counts the rows"
assert_contains "$ERR" "remove \`start\` from the policy" "visits: the refusal proposes removing start"
# the issue's own path: remove migrations/, compile again, apply -- staging keeps version 1 pinned
cp -r "$M" "$W/m2.kept"
cat >"$P/visits.lua" <<'LUA'
partition "visits" { column = "at", interval = "1 month" }
LUA
rm -rf "$M"
"$PARTMIG" compile "$P" -o "$M" >/dev/null
run_cmd "$PARTMIG" apply -d "$M" --db "dbname=staging"
assert_eq "$RC" 2 "visits: staging refuses the rewritten version 1 (it completed steps there)"
assert_contains "$ERR" "was changed after it was applied" "visits: staging names the changed file"
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 0 "visits: the recompiled version 1 pinned nothing here and converts ($ERR)"
assert_contains "$ERR" "completed no step" "visits: apply says why the changed file is accepted"
assert_eq "$(parted visits)" p "visits: converted"
assert_eq "$(fingerprint public.visits)" "$visits_before" "visits: rows identical"
# the compile-a-new-version path on staging: the relayout is refused there with a recipe
rm -rf "$M"; cp -r "$W/m2.kept" "$M"
run_cmd "$PARTMIG" compile "$P" -o "$M"
assert_eq "$RC" 0 "visits: compile the new version ($ERR)"
run_cmd "$PARTMIG" apply -d "$M" --db "dbname=staging"
assert_eq "$RC" 2 "visits: staging refuses changing start in place"
assert_contains "$ERR" "start cannot change in place" "visits: staging names the key"
assert_contains "$ERR" "partmig compile" "visits: staging's refusal gives the recipe"
assert_eq "$(psql -X -A -t -d staging -c "SELECT count(*) FROM public.visits")" 50 "visits: staging's rows untouched"

# ---- 3. list values missing for existing rows ----
export PGDATABASE=s3
P=$W/p3; M=$W/m3; mkdir -p "$P"
cat >"$P/events.lua" <<'LUA'
partition "events" { by = "list", column = "region", values = { eu = { "eu" }, us = { "us" } } }
LUA
"$PARTMIG" compile "$P" -o "$M" >/dev/null
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 2 "events: apply refused (values missing)"
assert_contains "$ERR" "add the missing values to the policy's lists" "events: the refusal proposes adding values"
cat >"$P/events.lua" <<'LUA'
partition "events" { by = "list", column = "region", values = { eu = { "eu" }, us = { "us", "apac" } } }
LUA
run_cmd "$PARTMIG" compile "$P" -o "$M"
assert_eq "$RC" 0 "events: compile after the fix ($ERR)"
run_cmd "$PARTMIG" apply -d "$M"
assert_eq "$RC" 0 "events: apply after the fix ($ERR)"
assert_eq "$(parted events)" p "events: converted"
assert_eq "$(fingerprint public.events)" "$events_before" "events: rows identical"
assert_eq "$(psql_q "SELECT count(*) FROM public.events_us")" 60 "events: apac rows in the partition the fix named"
assert_done
