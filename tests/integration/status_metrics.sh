#!/usr/bin/env bash
# status_metrics.sh: partmig status --format openmetrics read back by a real
# OpenMetrics parser (python3-prometheus-client), status --json for
# monitoring (RFC 3339 times, summary counts, conversion progress and
# waiting for finalize), plan --json, and status on a table of 1,100
# partitions (time and size printed, a fixed number of queries).
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
# the parser is Debian's python3-prometheus-client: the system python
PY=/usr/bin/python3
$PY -c 'import prometheus_client.openmetrics.parser' 2>/dev/null ||
    { echo "FAIL: python3-prometheus-client is not installed (apt-get install python3-prometheus-client)" >&2; exit 1; }
pg_start "log_min_duration_statement = 0"
T="$PARTMIG_TEST_DIR"

START=$(psql_q "SELECT to_char(now() AT TIME ZONE 'UTC' - interval '1096 days', 'YYYY-MM-DD')")
mkdir -p "$T/pol"
cat >"$T/pol/t.lua" <<LUA
defaults { schema = "public", by = "range", column = "created_at", timezone = "UTC", primary_key = { "id", "created_at" } }
local cols = { { "id", "bigint not null" }, { "created_at", "timestamptz not null" } }
partition "big" { columns = cols, interval = "1 day", premake = 3, start = "$START", default_partition = true,
                  retention = { keep = "1200 days" } }
partition "conv" { interval = "1 month", premake = 2, existing = { method = "copy" } }
LUA
psql_q "CREATE TABLE public.conv (id bigint PRIMARY KEY, created_at timestamptz NOT NULL)"
psql_q "INSERT INTO public.conv SELECT i, now() - make_interval(hours => i) FROM generate_series(1, 3000) i"
run_cmd "$PARTMIG" compile "$T/pol" -o "$T/mig"
assert_eq "$RC" 0 "compile ($ERR)"

# ---- plan --json: one object per step, the SQL apply would run
run_cmd "$PARTMIG" plan -d "$T/mig" --json
assert_eq "$RC" 0 "plan --json ($ERR)"
printf '%s' "$OUT" >"$T/plan.json"
assert_eq "$($PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(len(d), sorted(set(s["action"] for s in d)), all(set(s) >= {"version", "file", "step", "action", "title", "table", "transactional", "lock", "sql"} for s in d),
      sum(s["sql"].count("CREATE TABLE IF NOT EXISTS \"public\".\"big_p") for s in d) >= 1100)' "$T/plan.json")" \
    "7 ['ensure_table', 'premake', 'register', 'sql'] True True" "plan --json steps, premake SQL listed"
assert_eq "$(psql_q "SELECT to_regclass('public.big') IS NULL AND to_regnamespace('partmig') IS NULL")" t "plan --json changed nothing"

run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply ($ERR)"
NPARTS=$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.big'::regclass")
[ "$NPARTS" -ge 1100 ] && pass || fail "1,100 partitions or more: $NPARTS"
psql_q "INSERT INTO public.big SELECT i, now() - make_interval(hours => i) FROM generate_series(1, 20000) i"
psql_q "INSERT INTO public.big VALUES (1, now() + interval '5 years'), (2, now() + interval '6 years')"
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain ($ERR)"
# a gap: one past partition gone
GAP=big$(psql_q "SELECT to_char(now() AT TIME ZONE 'UTC' - interval '100 days', '\"_p\"YYYY_MM_DD')")
psql_q "DROP TABLE public.$GAP"
# a retention backlog: keep shrinks to 900 days
psql_q "UPDATE partmig.policies SET policy = jsonb_set(policy::jsonb, '{retention,keep}', '\"900 days\"') WHERE table_name = 'public.big'"
NPARTS=$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.big'::regclass")

# ---- speed and size with 1,100 partitions: a fixed number of queries
: >"$T/server.log.mark"
LOGBEFORE=$(wc -l <"$T/server.log")
t0=$(date +%s.%N)
"$PARTMIG" status --json >"$T/status.json"
t1=$(date +%s.%N)
QUERIES=$(tail -n +"$((LOGBEFORE + 1))" "$T/server.log" | grep -c "duration: .* \(statement\|execute\)")
SECS=$(echo "$t1 - $t0" | bc)
echo "status --json, $NPARTS partitions: ${SECS} s, $(wc -c <"$T/status.json") bytes, $QUERIES queries ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
[ "$QUERIES" -lt 40 ] && pass || fail "status made $QUERIES queries for $NPARTS partitions"
[ "$(echo "$SECS < 5" | bc)" = 1 ] && pass || fail "status took $SECS s"

# ---- --json for monitoring
assert_eq "$($PY - "$T/status.json" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
rfc = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
bad = []
def walk(x, path):
    if isinstance(x, dict):
        for k, v in x.items():
            if (k.endswith("_at") or k.endswith("_time") or k.endswith("_since")) and v is not None and not rfc.match(v):
                bad.append((path + "." + k, v))
            walk(v, path + "." + k)
    elif isinstance(x, list):
        for v in x:
            walk(v, path)
walk(d, "")
s = d["summary"]
big = [t for t in d["tables"] if t["table"] == "public.big"][0]
conv = d["conversions"][0]
print(bad, rfc.match(d["generated_at"]) is not None, s["tables"], s["partitions"] == sum(len(t["partitions"]) for t in d["tables"]),
      s["default_rows"], s["gaps"], s["conversions_unfinished"], s["conversions_waiting_for_finalize"],
      conv["waiting_for_finalize"], conv["rows_copied"], conv["progress"], big["maintain"]["last_result"],
      big["premake"]["coverage_intervals"] >= 3, big["retention"]["due"] > 0)
PY
)" "[] True 2 True 2 1 1 1 True 3000 1.0 ok True True" "status --json: RFC 3339 times, summary, conversion progress"

# ---- OpenMetrics, read back by prometheus_client's parser
run_cmd "$PARTMIG" status --format openmetrics
assert_eq "$RC" 0 "status --format openmetrics ($ERR)"
printf '%s\n' "$OUT" >"$T/metrics.txt"
assert_eq "$(tail -1 "$T/metrics.txt")" "# EOF" "ends in # EOF"
assert_eq "$($PY - "$T/metrics.txt" "$NPARTS" <<'PY'
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
def v(name, table, **extra):
    for s in fams[name].samples:
        if s.labels.get("table") == table and all(s.labels.get(k) == x for k, x in extra.items()):
            return s.value
    return None
# every family: one label set for all its samples
consistent = all(len({tuple(sorted(s.labels)) for s in f.samples}) <= 1 for f in fams.values())
units = sorted(f.name for f in fams.values() if f.unit == "seconds")
print(consistent, all(f.type == "gauge" for f in fams.values()), len(units) >= 4,
      v("partmig_partitions", "big") == int(sys.argv[2]), v("partmig_default_rows", "big"), v("partmig_gaps", "big"),
      v("partmig_premake_coverage_intervals", "big") >= 3, v("partmig_premake_coverage_seconds", "big") > 2 * 86400,
      v("partmig_retention_due_partitions", "big") > 0, v("partmig_last_maintain_success", "big"),
      v("partmig_last_maintain_timestamp_seconds", "big") > 1.7e9,
      v("partmig_conversion_state", "conv", state="swapped"), v("partmig_conversion_state", "big", state="none"),
      v("partmig_conversion_rows_copied", "conv"), v("partmig_conversion_waiting_for_finalize", "conv"))
PY
)" "True True True True 2 1 True True True 1 True 1 1 3000 1" "OpenMetrics families, labels and values"
assert_done
