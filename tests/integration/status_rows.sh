#!/usr/bin/env bash
# status_rows.sh: the rows partmig status prints say which are the planner's
# estimate (a partition over 8 MB: "~" before the number, a legend line, and
# "rows_source": "estimate" in --json) and which are exact counts.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
T="$PARTMIG_TEST_DIR"

mkdir -p "$T/pol"
cat >"$T/pol/r.lua" <<LUA
defaults { schema = "public", by = "range", column = "created_at", interval = "1 year", premake = 1,
           timezone = "UTC", primary_key = { "id", "created_at" } }
partition "r" { columns = { { "id", "bigint not null" }, { "created_at", "timestamptz not null" },
                            { "pad", "text" } }, start = "2020-01-01", default_partition = true }
LUA
run_cmd "$PARTMIG" compile "$T/pol" -o "$T/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply ($ERR)"
# 2020: about 12 MB (estimated); 2021: 7 rows (counted); DEFAULT: 1 row
psql_q "INSERT INTO public.r SELECT i, '2020-06-01'::timestamptz, repeat('x', 100) FROM generate_series(1, 80000) i"
psql_q "INSERT INTO public.r SELECT i, '2021-06-01'::timestamptz, 'y' FROM generate_series(1, 7) i"
psql_q "INSERT INTO public.r VALUES (1, '2999-01-01', 'z')"
psql_q "ANALYZE public.r_p2020"
[ "$(psql_q "SELECT pg_total_relation_size('public.r_p2020') > 8 * 1024 * 1024")" = t ] && pass ||
    fail "r_p2020 should be over 8 MB"
EST=$(psql_q "SELECT to_char(reltuples::bigint, 'FM999,999,999') FROM pg_class WHERE oid = 'public.r_p2020'::regclass")

run_cmd "$PARTMIG" status -d "$T/mig"
assert_eq "$RC" 0 "status ($ERR)"
LINE=$(echo "$OUT" | grep "^  r_p2020 ")
assert_contains "$LINE" " ~$EST " "the big partition's rows are marked as an estimate"
assert_contains "$(echo "$OUT" | grep "^  r_p2021 ")" " 7 " "a small partition's rows are exact, unmarked"
assert_not_contains "$(echo "$OUT" | grep "^  r_p2021 ")" "~" "no ~ on an exact count"
assert_contains "$(echo "$OUT" | grep "^  r_default ")" " 1 " "DEFAULT is exact"
assert_contains "$OUT" "~ rows: the planner's estimate (pg_class.reltuples" "the legend says what ~ means"

run_cmd "$PARTMIG" status -d "$T/mig" --json
assert_eq "$RC" 0 "status --json ($ERR)"
assert_eq "$(printf '%s' "$OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join("%s:%s:%s:%s" % (p["name"], p["rows_source"], p["rows_exact"], p["rows"] if p["rows_exact"] else "")
               for p in d["tables"][0]["partitions"] if p["name"] in ("r_p2020", "r_p2021", "r_default")))')" \
    "r_p2020:estimate:False: r_p2021:exact:True:7 r_default:exact:True:1" "--json says estimate or exact"

# a small table has no estimate: no legend
psql_q "TRUNCATE public.r_p2020"
run_cmd "$PARTMIG" status -d "$T/mig"
assert_not_contains "$OUT" "~" "no estimate, no ~ and no legend"
assert_done
