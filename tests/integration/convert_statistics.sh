#!/usr/bin/env bash
# convert_statistics.sh: a copy conversion with --jobs 2 and partitions of
# some size gathers each partition's statistics on the job connections
# (ANALYZE per partition, after its indexes) and the parent's inherited ones
# first, at the full statistics target for both (the parent's pass gathers
# the partitions' at target 1, which the per-partition ones replace); the
# parent's columns keep no statistics target of their own afterwards.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "log_statement = 'all'" "log_line_prefix = '%p %a: '"
LOG="$PARTMIG_TEST_DIR/server.log"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.ledger (id bigserial PRIMARY KEY, tenant_id int NOT NULL, amount numeric NOT NULL,
    created_at timestamptz NOT NULL);
INSERT INTO public.ledger (tenant_id, amount, created_at)
  SELECT g % 300, g, now() - (g % 80) * interval '1 day' - (g % 20) * interval '1 hour'
  FROM generate_series(1, 80000) g;
CREATE INDEX ledger_amount_expr_idx ON public.ledger ((amount * 2));
ANALYZE public.ledger;
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/l.lua" <<'LUA'
partition "ledger" { column = "created_at", interval = "1 month", premake = 0,
  primary_key = { "id", "created_at" }, existing = { method = "copy", jobs = 2 } }
LUA
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply converts ($ERR)"
assert_contains "$ERR" "the parent's, then each partition's on the jobs" "the statistics are gathered per partition"
parts=$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.ledger'::regclass")
# the server's log entries (a script's statements are one entry, over
# several lines): ANALYZE of each partition, on which connection
analyzed=$(python3 - "$LOG" <<'PY'
import re, sys
entries, cur = [], None
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    m = re.match(r"^(\d+) (.*?): ", line)
    if m:
        cur = [m.group(1), m.group(2), line]
        entries.append(cur)
    elif cur:
        cur[2] += line
parts, pids = set(), set()
for pid, app, text in entries:
    if app == "partmig index":
        for name in re.findall(r'ANALYZE "public"\."(ledger_p[0-9_]+)"', text):
            parts.add(name)
            pids.add(pid)
print(len(parts), len(pids))
PY
)
assert_eq "$analyzed" "$parts 2" "each partition analyzed on the job connections, both of them"
# full target: amount is unique, so a histogram of 101 bounds (target 1: 2)
assert_eq "$(psql_q "SELECT count(*) FROM pg_class c JOIN pg_inherits h ON h.inhrelid = c.oid WHERE h.inhparent = 'public.ledger'::regclass AND c.reltuples > 1000 AND NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = 'public' AND s.tablename = c.relname AND s.attname = 'amount' AND NOT s.inherited AND array_length(s.histogram_bounds::text::text[], 1) = 101)")" 0 "every partition's own statistics at the full target"
assert_eq "$(psql_q "SELECT array_length(histogram_bounds::text::text[], 1) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'ledger' AND attname = 'amount' AND inherited")" 101 "the parent's inherited statistics at the full target"
assert_eq "$(psql_q "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename LIKE 'ledger_p%amount_expr_idx'")" "$parts" "each partition's expression index has statistics"
assert_eq "$(psql_q "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.ledger'::regclass AND attnum > 0 AND attstattarget >= 0")" 0 "the parent's columns keep the default statistics target"
assert_eq "$(psql_q "SELECT count(*) FROM public.ledger")" 80000 "every row"
assert_done
