#!/usr/bin/env bash
# demo.sh (./build.sh demo): the seed's ERP tables converted online on a
# throwaway PostgreSQL while a small writer keeps inserting, updating and
# deleting; then `partmig status` and a summary.  Always cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
export PARTMIG_SOURCE=$PWD PARTMIG=${PARTMIG:-$PWD/build/partmig}
TOOLS=${PARTMIG_TOOLS:-$PWD/build/tests}
ROWS=${DEMO_ROWS:-200000}
. tests/lib/pg.sh
pg_start
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
echo "== loading the ERP sample: $ROWS journal_entries over two years, audit_logs, workflow_logs"
psql -X -q -v ON_ERROR_STOP=1 -f tests/fixtures/erp_schema.sql
bash tests/fixtures/erp_data.sh "$ROWS" >/dev/null
TABLES="journal_entries:created_at audit_logs:created_at workflow_logs:run_at"
declare -A before
for tc in $TABLES; do
    t=${tc%%:*}
    before[$t]=$(q "SELECT count(*) FROM public.$t")
    q "CREATE TABLE public.expected_$t AS SELECT * FROM public.$t"
done
MIG="$PARTMIG_TEST_DIR/migrations"
echo "== partmig compile policies/erp.lua"
"$PARTMIG" compile policies/erp.lua -o "$MIG"
STOP="$PARTMIG_TEST_DIR/stop"
i=0
pids=()
for tc in $TABLES; do
    i=$((i + 1))
    "$TOOLS/convert_writer" "${tc%%:*}" "${tc##*:}" "$STOP" "$i" >"$PARTMIG_TEST_DIR/writer$i.out" 2>&1 &
    pids+=($!)
done
echo "== partmig apply (writers keep writing)"
t0=$(date +%s.%N)
"$PARTMIG" apply -d "$MIG" --jobs 2
t1=$(date +%s.%N)
touch "$STOP"
for p in "${pids[@]}"; do wait "$p" || true; done
echo "== partmig status"
"$PARTMIG" status || true
echo "== summary"
printf '%-16s %10s %10s %10s %12s %8s\n' table before after committed default_rows matches
for tc in $TABLES; do
    t=${tc%%:*}
    after=$(q "SELECT count(*) FROM public.$t")
    exp=$(q "SELECT count(*) FROM public.expected_$t")
    def=$(q "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM public.$t WHERE tableoid IN (SELECT c.oid FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.$t'::regclass AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT')) d")
    same=$(q "SELECT (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM public.$t t) = (SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM public.expected_$t t)")
    printf '%-16s %10s %10s %10s %12s %8s\n' "$t" "${before[$t]}" "$after" "$exp" "$def" "$same"
done
cat "$PARTMIG_TEST_DIR"/writer*.out
stall=$(cat "$PARTMIG_TEST_DIR"/writer*.out | sed -n 's/.*max_ms=\([0-9.]*\).*/\1/p' | sort -n | tail -1)
echo "conversion took $(echo "$t1 - $t0" | bc) s; longest writer stall ${stall} ms; swaps: $(q "SELECT string_agg(table_name || ' ' || round(swap_ms::numeric, 1) || ' ms', ', ') FROM partmig.conversions")"
echo "the old tables are kept for rollback until: partmig finalize TABLE"
