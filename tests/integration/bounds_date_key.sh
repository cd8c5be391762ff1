#!/usr/bin/env bash
# bounds_date_key.sh: for a policy whose partition column is a date, the
# bounds partmig writes and prints show as dates ('2026-01-01'), as the
# server shows them, not as midnight timestamps ('2026-01-01 00:00:00 UTC'):
# the compiled CREATE statements, plan (partitions known at compile time,
# premake, a copy conversion's shadow), apply, maintain, status and verify.
# A timestamptz key keeps its zoned literal.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
T="$PARTMIG_TEST_DIR"

START=$(psql_q "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '6 months', 'YYYY-MM-DD')")
mkdir -p "$T/pol"
cat >"$T/pol/d.lua" <<LUA
defaults { schema = "public", by = "range", column = "d", interval = "1 month", premake = 2, timezone = "Europe/Berlin",
           primary_key = { "id", "d" } }
partition "dd" { columns = { { "id", "bigint not null" }, { "d", "date not null" } }, start = "$START",
                 default_partition = true }
partition "ts" { columns = { { "id", "bigint not null" }, { "d", "timestamptz not null" } }, start = "$START" }
partition "conv" { existing = { method = "copy" } }
LUA
psql_q "CREATE TABLE public.conv (id bigint PRIMARY KEY, d date NOT NULL)"
psql_q "INSERT INTO public.conv SELECT i, current_date - i FROM generate_series(1, 150) i"
run_cmd "$PARTMIG" compile "$T/pol" -o "$T/mig"
assert_eq "$RC" 0 "compile ($ERR)"
MIG=$(ls "$T"/mig/0001_*.sql)
# a bound literal at midnight: '2026-01-01 00:00:00 ...' (or with a zone)
MIDNIGHT="[0-9]-[0-9][0-9] 00:00:00"
assert_eq "$(grep -c "PARTITION OF \"public\".\"dd\" FOR VALUES FROM ('$START') TO ('" "$MIG")" 1 "compiled: the first date partition's bound is a date"
assert_eq "$(grep "PARTITION OF \"public\".\"dd\"" "$MIG" | grep -c "$MIDNIGHT")" 0 "compiled: no date bound as a timestamp"
assert_contains "$(grep "PARTITION OF \"public\".\"ts\"" "$MIG" | head -1)" "FOR VALUES FROM ('$START 00:00:00 Europe/Berlin')" "compiled: a timestamptz bound keeps its zone"

run_cmd "$PARTMIG" plan -d "$T/mig"
assert_eq "$RC" 0 "plan ($ERR)"
assert_eq "$(printf '%s\n' "$OUT" | grep -E "\"(dd|conv)\"|partition conv_" | grep -c "FOR VALUES FROM ('[0-9-]*') TO ('[0-9-]*')")" \
    "$(printf '%s\n' "$OUT" | grep -E "\"(dd|conv)\"|partition conv_" | grep -c "FOR VALUES FROM")" "plan: every date bound a date"
assert_contains "$OUT" "--   partition conv_p" "plan lists the conversion's partitions"
# (the "-- copy:" summary's data window is convert's own text, not a bound)
assert_eq "$(printf '%s\n' "$OUT" | grep -E "\"(dd|conv)\"|partition conv_" | grep -v "^-- copy: " | grep "$MIDNIGHT")" "" "plan: no date bound as a timestamp"

run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM public.conv")" 150 "the converted table holds its rows"

# maintain creates a partition again, and says its range as dates
NEXT=$(psql_q "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE inhparent = 'public.dd'::regclass AND NOT c.relname LIKE '%default' ORDER BY c.relname DESC LIMIT 1")
psql_q "DROP TABLE public.$NEXT"
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain ($ERR)"
assert_contains "$OUT" "public.dd: created partition $NEXT [" "maintain recreates $NEXT"
assert_not_contains "$OUT" "00:00" "maintain: no date bound as a timestamp"

run_cmd "$PARTMIG" status -d "$T/mig"
assert_eq "$RC" 0 "status ($ERR)"
assert_eq "$(printf '%s\n' "$OUT" | grep -E "^  (dd|conv)_p" | grep -c "$MIDNIGHT")" 0 "status: no date bound as a timestamp"
run_cmd "$PARTMIG" verify -d "$T/mig"
assert_eq "$RC" 0 "verify ($OUT $ERR)"
FIRST=$(psql_q "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE inhparent = 'public.dd'::regclass AND NOT c.relname LIKE '%default' ORDER BY c.relname LIMIT 1")
psql_q "DROP TABLE public.$FIRST; CREATE TABLE public.$FIRST PARTITION OF public.dd FOR VALUES FROM ('$START') TO ('$(psql_q "SELECT to_char('$START'::date + 10, 'YYYY-MM-DD')")')"
run_cmd "$PARTMIG" verify -d "$T/mig"
assert_eq "$RC" 1 "verify finds the changed bound"
assert_contains "$ERR" "the migration says FOR VALUES FROM ('$START') TO ('" "verify: the expected bound as dates"
assert_not_contains "$ERR" "00:00" "verify: no date bound as a timestamp"
assert_done
