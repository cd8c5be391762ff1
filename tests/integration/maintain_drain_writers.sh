#!/usr/bin/env bash
# maintain_drain_writers.sh: maintain --drain-default while three writers
# insert into the very ranges it drains.  No writer may fail (PostgreSQL
# re-checks the DEFAULT partition's constraint for an insert routed there
# before the new partition was attached), every committed row is present
# exactly once, and DEFAULT keeps nothing of the drained ranges.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
T="$PARTMIG_TEST_DIR"
mkdir -p "$T/pol"
start=$(date -u -d "$(date -u +%Y-%m-01) -2 months" +%Y-%m-%d)
cat >"$T/pol/ev.lua" <<LUA
partition "ev" { by = "range", column = "at", interval = "1 month", start = "$start", premake = 1,
  default_partition = true,
  columns = { { "id", "bigint not null" }, { "at", "timestamptz not null" }, { "note", "text" } },
  primary_key = { "id", "at" } }
LUA
run_cmd "$PARTMIG" compile "$T/pol" -o "$T/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply ($ERR)"

# three months beyond premake: every row there lands in DEFAULT
psql_q "CREATE TABLE public.drain_base AS
          SELECT date_trunc('month', now() AT TIME ZONE 'UTC' + interval '6 months') AT TIME ZONE 'UTC' AS lo"
psql_q "CREATE SEQUENCE public.ev_ids START 1000000"
psql_q "CREATE TABLE public.committed (id bigint PRIMARY KEY)"
psql_q "INSERT INTO public.ev SELECT g, (SELECT lo FROM public.drain_base) + (g * 127 % 7776000) * interval '1 second', 'seed'
          FROM generate_series(1, 60000) g"
assert_eq "$(psql_q "SELECT count(*) FROM public.ev_default")" 60000 "seed rows are in DEFAULT"

# writers: each insert also records its id in the same statement, so
# public.committed holds exactly what committed
cat >"$T/w.sql" <<'SQL'
\set k random(0, 7775999)
WITH n AS (INSERT INTO public.ev (id, at, note) SELECT nextval('public.ev_ids'), lo + :k * interval '1 second', 'w' FROM public.drain_base RETURNING id) INSERT INTO public.committed SELECT id FROM n;
SQL
pgbench -n -c 3 -j 3 -T 7 -f "$T/w.sql" -l --log-prefix="$T/wlog" >"$T/pgbench.out" 2>&1 &
bench=$!
sleep 1.5
run_cmd "$PARTMIG" maintain --drain-default
echo "$OUT"
assert_eq "$RC" 0 "maintain --drain-default ($ERR)"
assert_contains "$OUT" "moved" "the drain moved rows"
wait "$bench"
brc=$?
assert_eq "$brc" 0 "no writer failed ($(grep -iE 'error|abort' "$T/pgbench.out" | head -3))"
assert_not_contains "$(cat "$T/pgbench.out")" "violates partition constraint" "no partition constraint error"
stall=$(cat "$T"/wlog* | awk 'BEGIN{m=0} {if ($3 > m) m = $3} END{printf "%.1f", m / 1000}')
echo "writers: $(grep -E 'number of transactions actually processed' "$T/pgbench.out"); longest statement ${stall} ms"

n=$(psql_q "SELECT count(*) FROM public.committed")
assert_eq "$([ "$n" -gt 100 ] && echo yes)" yes "writers committed rows during the drain ($n)"
assert_eq "$(psql_q "SELECT count(*) FROM public.ev WHERE note = 'w'")" "$n" "every committed row is in the table"
assert_eq "$(psql_q "SELECT count(*) FROM public.committed c WHERE (SELECT count(*) FROM public.ev e WHERE e.id = c.id) <> 1")" 0 "each exactly once"
assert_eq "$(psql_q "SELECT count(*) FROM public.ev WHERE note = 'seed'")" 60000 "seed rows kept"
assert_eq "$(psql_q "SELECT count(*) FROM public.ev_default d, public.drain_base b WHERE d.at >= b.lo AND d.at < b.lo + interval '3 months'")" 0 "DEFAULT holds nothing of the drained range"
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.ev'::regclass")" \
    "$(psql_q "SELECT 5 + 3")" "three partitions attached"
assert_done
