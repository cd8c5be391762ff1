#!/usr/bin/env bash
# convert_busy_writer.sh: a copy conversion of a table with 120+ daily
# partitions finishes while a writer changes ~1,000 rows/s across
# partitions (pgbench at a fixed rate: cross-partition moves, updates in
# place, inserts, deletes, each mirrored in the same statement into an
# expected table); apply is bounded by a timeout, and the table ends
# holding exactly what was committed.
#   RATE=N (default 1000) sets the writer's transactions/s, for measuring.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "max_connections = 60" "autovacuum_naptime = 5s"
RATE=${RATE:-1000}
ROWS=${ROWS:-300000}
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE public.events (id bigint PRIMARY KEY, created timestamptz NOT NULL, v int NOT NULL DEFAULT 0, payload text);
INSERT INTO public.events SELECT g, now() - (g % 125) * interval '1 day' - (g % 24) * interval '1 hour', 0, md5(g::text)
  FROM generate_series(1, $ROWS) g;
CREATE TABLE public.expected_events AS SELECT * FROM public.events;
ALTER TABLE public.expected_events ADD PRIMARY KEY (id);
CREATE SEQUENCE public.ev_ids START $((ROWS + 1));
ANALYZE;
SQL
cat >"$PARTMIG_TEST_DIR/w.sql" <<SQL
\set id random(1, $ROWS)
\set d random(1, 120)
\set op random(1, 10)
\if :op <= 6
WITH u AS (UPDATE public.events SET created = now() - :d * interval '1 day', v = v + 1 WHERE id = :id RETURNING id, created, v) UPDATE public.expected_events e SET created = u.created, v = u.v FROM u WHERE e.id = u.id;
\elif :op <= 8
WITH u AS (UPDATE public.events SET v = v + 1 WHERE id = :id RETURNING id, v) UPDATE public.expected_events e SET v = u.v FROM u WHERE e.id = u.id;
\elif :op = 9
WITH i AS (INSERT INTO public.events VALUES (nextval('public.ev_ids'), now() - :d * interval '1 day', 0, 'new') RETURNING *) INSERT INTO public.expected_events SELECT * FROM i;
\else
WITH x AS (DELETE FROM public.events WHERE id = :id RETURNING id) DELETE FROM public.expected_events e USING x WHERE e.id = x.id;
\endif
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/e.lua" <<'LUA'
partition "events" { column = "created", interval = "1 day", premake = 3,
  primary_key = { "id", "created" }, existing = { method = "copy", batch_size = 20000 } }
LUA
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"
PGB=${PG_BIN:-/usr/lib/postgresql/15/bin}/pgbench
"$PGB" -n -f "$PARTMIG_TEST_DIR/w.sql" -c 4 -j 2 -R "$RATE" -T 300 -P 2 >"$PARTMIG_TEST_DIR/pgbench.out" 2>&1 &
wpid=$!
sleep 2
start=$(date +%s.%N)
run_cmd timeout 300 "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
assert_eq "$RC" 0 "apply finishes within 300 s under ~$RATE writes/s ($ERR)"
echo "$ERR" | grep -E "created|re-copied|verified|swapped"
sleep 1
kill -TERM "$wpid" 2>/dev/null
wait "$wpid"
grep -E "^progress" "$PARTMIG_TEST_DIR/pgbench.out" | head -n 4
grep -iE "error|fail" "$PARTMIG_TEST_DIR/pgbench.out" | head -n 5
echo "apply took ${elapsed}s at ~$RATE writes/s over $(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.events'::regclass") partitions ($(nproc) CPUs: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1))"
assert_eq "$(grep -ciE "error|aborted" "$PARTMIG_TEST_DIR/pgbench.out")" 0 "no writer statement failed"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.events'::regclass")" p "events is partitioned"
assert_eq "$(psql_q "SELECT count(*) >= 120 FROM pg_inherits WHERE inhparent = 'public.events'::regclass")" t "120+ partitions"
fp() { psql_q "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM public.$1 t"; }
assert_eq "$(fp events)" "$(fp expected_events)" "events holds exactly what the writer committed"
assert_eq "$(psql_q "SELECT sum(v) > 0 FROM public.events")" t "the writer's changes are in"
assert_done
