#!/usr/bin/env bash
# status_check.sh: partmig status --check against a throwaway PostgreSQL 15 --
# each state reached for real: OK after maintain; rows in DEFAULT, a missing
# future partition (short coverage and a gap), a missing current partition
# (critical), retention overdue after the policy's keep shrinks, an old or
# failed maintain run recorded in the ledger, a conversion waiting for
# finalize, a conversion whose runner was killed; the thresholds as
# options; UNKNOWN (3) when status cannot be read.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
T="$PARTMIG_TEST_DIR"

START=$(psql_q "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '30 months', 'YYYY-MM-DD')")
mkdir -p "$T/pol"
cat >"$T/pol/ev.lua" <<LUA
defaults { schema = "public", by = "range", column = "created_at", interval = "1 month", premake = 3,
           timezone = "UTC", primary_key = { "id", "created_at" } }
partition "ev" { columns = { { "id", "bigint not null" }, { "created_at", "timestamptz not null" } },
                 start = "$START", default_partition = true, retention = { keep = "24 months" } }
partition "conv" { existing = { method = "copy" } }
LUA
psql_q "CREATE TABLE public.conv (id bigint PRIMARY KEY, created_at timestamptz NOT NULL)"
psql_q "INSERT INTO public.conv SELECT i, now() - make_interval(days => i) FROM generate_series(1, 300) i"
run_cmd "$PARTMIG" compile "$T/pol" -o "$T/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply ($ERR)"

check() { run_cmd "$PARTMIG" status --check "$@"; }

# ---- right after apply: partitions older than 24 months are due, but only
# since a few months: overdue past --retention-overdue 1w
check --finalize-warn 1w
assert_eq "$RC" 1 "overdue retention is a warning ($OUT)"
assert_contains "$(echo "$OUT" | head -1)" "PARTMIG WARNING - " "Nagios summary line first"
assert_contains "$OUT" "WARNING public.ev: 6 partition(s) due for retention (keep 24 months)" "retention overdue line"
check --retention-overdue 1000w
assert_eq "$RC" 0 "a larger --retention-overdue accepts it ($OUT)"
assert_contains "$OUT" "PARTMIG OK - 2 table(s)" "OK summary"

# ---- maintain removes them and records its run per table
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain ($ERR)"
assert_eq "$(psql_q "SELECT string_agg(table_name || ':' || result || ':' || (finished_at IS NOT NULL) || ':' || (last_ok_at IS NOT NULL), ' ' ORDER BY table_name) FROM partmig.maintain_runs")" \
    "public.conv:ok:true:true public.ev:ok:true:true" "maintain's runs are in the ledger"
check
assert_eq "$RC" 0 "OK after maintain ($OUT)"
assert_eq "$(echo "$OUT" | wc -l)" 1 "no problem line when OK"

# ---- a row in DEFAULT
psql_q "INSERT INTO public.ev VALUES (1, now() + interval '10 years')"
check
assert_eq "$RC" 1 "rows in DEFAULT: warning"
assert_contains "$OUT" "WARNING public.ev: 1 row(s) in DEFAULT partition ev_default" "DEFAULT line"
check --default-rows-warn 5
assert_eq "$RC" 0 "--default-rows-warn 5 accepts one row ($OUT)"
psql_q "DELETE FROM public.ev WHERE id = 1"

# ---- next month's partition gone: coverage below one interval, and a gap
NEXT=ev$(psql_q "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month', '\"_p\"YYYY_MM')")
CUR=ev$(psql_q "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC'), '\"_p\"YYYY_MM')")
psql_q "DROP TABLE public.$NEXT"
check
assert_eq "$RC" 1 "a missing future partition: warning ($OUT)"
assert_contains "$OUT" "WARNING public.ev: partitions cover 0 interval(s) of 1 month ahead of now" "coverage line"
assert_contains "$OUT" "WARNING public.ev: no partition from " "gap line"
check --premake-warn 0
assert_not_contains "$OUT" "partitions cover" "--premake-warn 0 accepts it"

# ---- the current partition gone: critical
psql_q "DROP TABLE public.$CUR"
check
assert_eq "$RC" 2 "no partition for now: critical ($OUT)"
assert_contains "$(echo "$OUT" | head -1)" "PARTMIG CRITICAL - 1 critical" "critical summary"
assert_contains "$OUT" "CRITICAL public.ev: no partition holds the current time: new rows go to DEFAULT" "critical line"

# ---- maintain fails on a table in the way of a partition: recorded as failed
psql_q "CREATE TABLE public.$NEXT (id bigint, created_at timestamptz)"
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 1 "maintain fails for ev"
assert_eq "$(psql_q "SELECT result || ':' || (error LIKE '%exists and is not a partition%') FROM partmig.maintain_runs WHERE table_name = 'public.ev'")" \
    "failed:true" "the failed run and its error are in the ledger"
check
assert_contains "$OUT" "WARNING public.ev: the last \"partmig maintain\" run failed" "failed run line"
assert_contains "$OUT" "exists and is not a partition" "failed run's error shown"
psql_q "DROP TABLE public.$NEXT"
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain repairs ($ERR)"
check
assert_eq "$RC" 0 "OK again ($OUT)"

# ---- retention overdue after the policy's keep shrinks to 6 months
psql_q "UPDATE partmig.policies SET policy = jsonb_set(policy::jsonb, '{retention,keep}', '\"6 months\"') WHERE table_name = 'public.ev'"
check
assert_eq "$RC" 1 "overdue retention: warning ($OUT)"
assert_contains "$OUT" "WARNING public.ev: 18 partition(s) due for retention (keep 6 months), the oldest for " "overdue line"
psql_q "UPDATE partmig.policies SET policy = jsonb_set(policy::jsonb, '{retention,keep}', '\"24 months\"') WHERE table_name = 'public.ev'"

# ---- the last successful maintain long ago
psql_q "UPDATE partmig.maintain_runs SET last_ok_at = now() - interval '40 hours' WHERE table_name = 'public.ev'"
check
assert_eq "$RC" 1 "maintain 40 h ago: warning ($OUT)"
assert_contains "$OUT" "WARNING public.ev: the last successful \"partmig maintain\" was 1d 16h ago" "old maintain line"
psql_q "UPDATE partmig.maintain_runs SET last_ok_at = now() - interval '80 hours' WHERE table_name = 'public.ev'"
check
assert_eq "$RC" 2 "maintain 80 h ago: critical ($OUT)"
check --maintain-crit 4d --maintain-warn 3d
assert_eq "$RC" 1 "--maintain-crit 4d makes it a warning ($OUT)"
check --maintain-warn=4d --maintain-crit=5d
assert_eq "$RC" 0 "--maintain-warn=4d accepts it ($OUT)"
psql_q "DELETE FROM partmig.maintain_runs WHERE table_name = 'public.ev'"
psql_q "UPDATE partmig.policies SET registered_at = now() - interval '50 hours' WHERE table_name = 'public.ev'"
check
assert_contains "$OUT" "no successful \"partmig maintain\" since the policy was registered 2d 2h ago" "never maintained"
run_cmd "$PARTMIG" maintain
check
assert_eq "$RC" 0 "OK after maintain ($OUT)"

# ---- the conversion of conv waits for finalize
assert_eq "$(psql_q "SELECT state FROM partmig.conversions WHERE table_name = 'conv'")" swapped "conv is swapped"
check --finalize-warn 0
assert_eq "$RC" 1 "waiting for finalize past the threshold: warning ($OUT)"
assert_contains "$OUT" "WARNING public.conv: converted and swapped " "finalize line"
assert_contains "$OUT" "waiting for \"partmig finalize public.conv\"" "finalize line names the command"

# ---- --json carries the check; --check with --format openmetrics keeps the code
run_cmd "$PARTMIG" status --check --finalize-warn 0 --json
assert_eq "$RC" 1 "--json --check exit code"
assert_eq "$(printf '%s' "$OUT" | python3 -c 'import json,sys; c=json.load(sys.stdin)["check"]; print(c["status"], c["code"], [p["check"] for p in c["problems"]])')" \
    "WARNING 1 ['conversion']" "the check object"

# ---- a conversion whose runner was killed: reported at once, not after
# --stalled-warn, with what to run; while its runner works it is not
psql_q "CREATE TABLE public.conv2 (id bigint PRIMARY KEY, created_at timestamptz NOT NULL)"
psql_q "INSERT INTO public.conv2 SELECT i, now() - make_interval(hours => i) FROM generate_series(1, 20000) i"
cat >>"$T/pol/ev.lua" <<LUA
partition "conv2" { existing = { method = "copy" } }
LUA
run_cmd "$PARTMIG" compile "$T/pol" -o "$T/mig"
assert_eq "$RC" 0 "compile conv2 ($ERR)"
"$PARTMIG" apply -d "$T/mig" --batch-size 200 --sleep 200 >"$T/apply2.out" 2>&1 &
APID=$!
for _ in $(seq 1 150); do
    [ "$(psql_q "SELECT state FROM partmig.conversions WHERE table_name = 'conv2'" 2>/dev/null)" = backfilling ] && break
    sleep 0.1
done
assert_eq "$(psql_q "SELECT state FROM partmig.conversions WHERE table_name = 'conv2'")" backfilling "conv2 is backfilling"
check
assert_not_contains "$OUT" "interrupted" "a conversion at work is not interrupted ($OUT)"
assert_eq "$RC" 0 "a conversion at work is OK ($OUT)"
kill -9 "$APID"
wait "$APID" 2>/dev/null
check
assert_eq "$RC" 1 "a killed conversion: warning at once ($OUT)"
assert_contains "$(echo "$OUT" | head -1)" "PARTMIG WARNING - " "not OK"
assert_contains "$OUT" "WARNING public.conv2: conversion interrupted in state backfilling (migration 0002), no partmig runner is at work on it" "interrupted line"
assert_contains "$OUT" "\"partmig apply\" resumes it from backfilling; or \"partmig rollback --to 1\"" "the commands to run"
assert_not_contains "$OUT" "migration 0002:" "the migration is told once, by its conversion"
run_cmd "$PARTMIG" status
assert_contains "$OUT" "interrupted: no partmig runner is at work on it" "plain status says it too"
run_cmd "$PARTMIG" status --json --check
assert_eq "$(printf '%s' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["runner"]["running"], [p["check"] for p in d["check"]["problems"]])')" \
    "False ['interrupted']" "--json: no runner, the problem"
# the migration alone (its conversion is done, a later step was cut off)
psql_q "UPDATE partmig.conversions SET state = 'rolled_back' WHERE table_name = 'conv2'"
check
assert_contains "$OUT" "WARNING migration 0002: " "an interrupted migration without a conversion ($OUT)"
assert_contains "$OUT" "\"partmig apply\" finishes it, or \"partmig rollback --to 1\" takes it back" "its commands"
psql_q "UPDATE partmig.conversions SET state = 'backfilling' WHERE table_name = 'conv2'"
run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply resumes conv2 ($ERR)"
check
assert_eq "$RC" 0 "OK once resumed ($OUT)"

# ---- UNKNOWN: bad option, no server
run_cmd "$PARTMIG" status --check --maintain-warn soon
assert_eq "$RC" 3 "a bad threshold is UNKNOWN"
run_cmd "$PARTMIG" status --check --db "postgresql://127.0.0.1:1/none?connect_timeout=2"
assert_eq "$RC" 3 "no server: UNKNOWN"
assert_contains "$OUT" "PARTMIG UNKNOWN - " "UNKNOWN line"
run_cmd "$PARTMIG" status --db "postgresql://127.0.0.1:1/none?connect_timeout=2"
assert_eq "$RC" 1 "without --check a database error stays 1"
assert_done
