#!/usr/bin/env bash
# workload_check.sh: a conversion's pre-flight reads pg_stat_statements and
# plans the frequent statements on the table against its partitioned shape:
# a writer that reaches rows by id (UPDATE ... WHERE id = $1) cannot prune
# partitions and is reported with its calls, one that names the partition
# key is not; `apply --require-pruning` refuses (exit 2, nothing changed),
# plain apply converts and warns.  Also: no pg_stat_statements, a role that
# may not read other roles' query text or act as them, hostile query text,
# the library not loaded.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "shared_preload_libraries = 'pg_stat_statements'"
schema_dump() { pg_dump --schema-only --exclude-schema=partmig | grep -Ev '^\\(un)?restrict '; }
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.orders (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, note text);
INSERT INTO public.orders (created_at, note)
SELECT timestamptz '2025-01-01 UTC' + g * interval '1 hour', 'n' FROM generate_series(1, 2000) g;
CREATE ROLE app LOGIN;
GRANT SELECT, UPDATE, INSERT ON public.orders TO app;
CREATE ROLE auditor LOGIN;
GRANT SELECT ON public.orders TO auditor;
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL/orders" "$POL/events"
cat >"$POL/orders/orders.lua" <<'LUA'
partition "orders" { column = "created_at", interval = "1 month", primary_key = { "id", "created_at" } }
LUA
cat >"$POL/events/events.lua" <<'LUA'
partition "events" { column = "at", interval = "1 month", primary_key = { "id", "at" } }
LUA
MIG="$PARTMIG_TEST_DIR/mig"
"$PARTMIG" compile "$POL/orders" -o "$MIG" >/dev/null
"$PARTMIG" compile "$POL/events" -o "$PARTMIG_TEST_DIR/mig_events" >/dev/null

# no extension in the database: one line says the check was skipped
run_cmd "$PARTMIG" plan -d "$MIG"
assert_eq "$RC" 0 "plan without pg_stat_statements ($ERR)"
assert_contains "$ERR" 'workload check of "public.orders" skipped: pg_stat_statements is not installed in this database' "skipped, and why"
assert_eq "$(printf '%s\n' "$ERR" | grep -c workload)" 1 "one line about the workload check"
run_cmd "$PARTMIG" plan -d "$MIG" --require-pruning
assert_eq "$RC" 2 "--require-pruning refuses when the check cannot run"
assert_contains "$ERR" "--require-pruning: the workload check of \"public.orders\" could not run" "and says why"

# the workload: prepared statements as an application sends them (pgbench
# -M prepared: the extended protocol), by id and by the partition key
psql -X -q -c "CREATE EXTENSION pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null
cat >"$PARTMIG_TEST_DIR/by_id.sql" <<'SQL'
\set id random(1, 2000)
UPDATE orders SET note = 'w' WHERE id = :id;
SQL
cat >"$PARTMIG_TEST_DIR/by_key.sql" <<'SQL'
\set id random(1, 2000)
\set h random(0, 100)
SELECT id, note FROM public.orders WHERE created_at >= timestamptz '2025-01-01 UTC' + :h * interval '1 hour' AND id = :id;
SQL
for s in by_id by_key; do
    pgbench -n -M prepared -U app -t 300 -f "$PARTMIG_TEST_DIR/$s.sql" >/dev/null 2>&1 || fail "pgbench $s"
done
# hostile text: a terminal escape and a line break in a comment, a long query
for i in $(seq 1 12); do
    printf 'SELECT count(*) /* \033[31mred\r\nforged line */ FROM public.orders WHERE id = %d;\n' "$i"
    printf 'SELECT id /* %s */ FROM public.orders WHERE id = %d;\n' "$(head -c 20000 /dev/zero | tr '\0' z)" "$i"
done | psql -X -q -U app >/dev/null

schema_dump >"$PARTMIG_TEST_DIR/before.sql"
run_cmd "$PARTMIG" plan -d "$MIG"
assert_eq "$RC" 0 "plan ($ERR)"
warnings=$(printf '%s\n' "$ERR" | grep 'cannot prune partitions')
assert_contains "$warnings" "(300 calls, mean " "the statement by id is reported with its calls"
assert_contains "$warnings" "UPDATE orders SET note = \$2 WHERE id = \$1" "the statement by id is shown"
assert_not_contains "$warnings" "created_at >=" "the statement with the partition key is not reported"
assert_contains "$ERR" 'hint: add "created_at" to its WHERE clause, or accept that it scans ' "the hint"
assert_contains "$ERR" "at most 20, statement_timeout 2000 ms each" "the check says its bounds"
# hostile text prints escaped, on one line, cut short
assert_eq "$(printf '%s' "$ERR" | grep -c $'\033')" 0 "no raw escape character printed"
assert_contains "$ERR" '/* \x1b[31mred forged line */' "control characters escaped, line break folded"
assert_eq "$(printf '%s\n' "$ERR" | grep -c '^forged')" 0 "no forged line"
assert_contains "$ERR" "... (200" "the long query is cut, its length said"
assert_eq "$(printf '%s\n' "$ERR" | awk 'length > 1000' | wc -l)" 0 "no line longer than 1000 bytes"

# plan --json carries the same facts
run_cmd "$PARTMIG" plan -d "$MIG" --json
assert_eq "$RC" 0 "plan --json"
facts=$(printf '%s' "$OUT" | python3 -c '
import json, sys
for step in json.load(sys.stdin):
    w = step.get("workload")
    if not w:
        continue
    print("ran", w["ran"], "planned", len(w["statements"]) <= w["limits"]["max"])
    for s in w["statements"]:
        if "UPDATE orders" in s["query"] or "created_at >=" in s["query"]:
            print(s["query"].split()[0], s["calls"], s["checked"], s.get("prunes"), "hint" in s)
')
assert_contains "$facts" "ran True planned True" "JSON: the check ran, bounded"
assert_contains "$facts" "UPDATE 300 True False True" "JSON: the UPDATE by id cannot prune, with calls and hint"
assert_contains "$facts" "SELECT 300 True True False" "JSON: the SELECT with the key prunes"

# attach: the same check; the old table stays one partition, so no count
mkdir -p "$POL/attach"
cat >"$POL/attach/orders.lua" <<'LUA'
partition "orders" { column = "created_at", interval = "1 month", primary_key = { "id", "created_at" },
  existing = { method = "attach" } }
LUA
"$PARTMIG" compile "$POL/attach" -o "$PARTMIG_TEST_DIR/mig_attach" >/dev/null
run_cmd "$PARTMIG" plan -d "$PARTMIG_TEST_DIR/mig_attach"
assert_eq "$RC" 0 "plan an attach ($ERR)"
assert_contains "$ERR" "cannot prune partitions (300 calls" "attach: the statement by id reported"
assert_contains "$ERR" 'or accept that it scans every partition' "attach: the hint"

# --require-pruning: refused, exit 2, nothing changed
run_cmd "$PARTMIG" apply -d "$MIG" --require-pruning
assert_eq "$RC" 2 "apply --require-pruning is refused with exit 2"
assert_contains "$ERR" "pre-flight found" "a pre-flight refusal"
assert_contains "$ERR" "cannot prune partitions (300 calls" "naming the statement and its calls"
assert_contains "$ERR" "nothing was changed" "saying nothing changed"
schema_dump >"$PARTMIG_TEST_DIR/after.sql"
if cmp -s "$PARTMIG_TEST_DIR/before.sql" "$PARTMIG_TEST_DIR/after.sql"; then pass; else fail "schema changed by a refused apply"; fi
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" r "the table is not converted"
assert_eq "$(psql_q "SELECT count(*) FROM partmig.conversions")" 0 "no conversion recorded"
assert_eq "$(psql_q "SELECT state FROM partmig.steps WHERE version = 1 AND step = 1")" failed "the step is recorded failed"

# a role without pg_read_all_stats sees only its own statements' text
psql_q "GRANT USAGE ON SCHEMA partmig TO auditor; GRANT SELECT ON ALL TABLES IN SCHEMA partmig TO auditor" >/dev/null
run_cmd env PGUSER=auditor "$PARTMIG" plan -d "$MIG"
assert_eq "$RC" 0 "plan as a role without pg_read_all_stats ($ERR)"
assert_contains "$ERR" "statement(s) in pg_stat_statements of other roles cannot be read (their text needs pg_read_all_stats): not checked" "unreadable statements counted"
assert_not_contains "$ERR" "UPDATE orders" "other roles' text not shown"
# with it, it reads them, but plans a statement only as the role that ran it
psql_q "GRANT pg_read_all_stats TO auditor" >/dev/null
run_cmd env PGUSER=auditor "$PARTMIG" plan -d "$MIG"
assert_eq "$RC" 0 "plan as a role that reads all statistics ($ERR)"
assert_contains "$ERR" "not checked (300 calls" "statements of another role are not checked"
assert_contains "$ERR" "cannot act as role \"app\", which ran it" "and why"

# without the flag: converted, with the warning
run_cmd "$PARTMIG" apply -d "$MIG"
assert_eq "$RC" 0 "apply converts ($ERR)"
assert_contains "$ERR" "cannot prune partitions (300 calls" "apply prints the warning"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" p "the table is partitioned"
assert_eq "$(psql_q "SELECT count(*) FROM public.orders")" 2000 "every row converted"

# the library not loaded: the view errors, the check says so (another
# database: this one's ledger has version 1 already)
psql_q "CREATE DATABASE other" >/dev/null
PGDATABASE=other psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION pg_stat_statements;
CREATE TABLE public.events (id bigint PRIMARY KEY, at timestamptz NOT NULL);
INSERT INTO public.events SELECT g, timestamptz '2025-01-01 UTC' + g * interval '1 day' FROM generate_series(1, 50) g;
SQL
pg_as_owner sed -i '/^shared_preload_libraries/d' "$PARTMIG_TEST_DIR/data/postgresql.conf"
pg_restart
run_cmd env PGDATABASE=other "$PARTMIG" plan -d "$PARTMIG_TEST_DIR/mig_events"
assert_eq "$RC" 0 "plan with the library not loaded ($ERR)"
assert_contains "$ERR" 'workload check of "public.events" skipped: pg_stat_statements is installed but not loaded' "not loaded, said"
assert_done
