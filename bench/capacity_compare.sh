#!/usr/bin/env bash
# bench/capacity_compare.sh: the writers' capacity between swap and finalize
# and after finalize (rate_writer closed loop: UPDATE ... WHERE id = $1 over
# 2 clients), for two partmig binaries A and B interleaved in the same run
# (A, B, A, B, ... one fresh database each), so that the machine's load
# weighs on both alike.  Prints one line per run and the medians.  By hand:
#
#   CAP_A=path/to/old/partmig CAP_B=build/partmig bench/capacity_compare.sh
#   CAP_ROUNDS=2  CAP_ROWS=1000000  CAP_SECONDS=5  CAP_SAMPLES=3
set -euo pipefail
cd "$(dirname "$0")/.."
export PARTMIG_SOURCE=$PWD
A=${CAP_A:?CAP_A: the first partmig binary}
B=${CAP_B:-$PWD/build/partmig}
TOOLS=${PARTMIG_TOOLS:-$(dirname "$B")/tests}
ROUNDS=${CAP_ROUNDS:-2} ROWS=${CAP_ROWS:-1000000} SECS=${CAP_SECONDS:-5} SAMPLES=${CAP_SAMPLES:-3}
. tests/lib/pg.sh
. bench/lib.sh
pg_start "max_wal_size = 4GB" "shared_buffers = 512MB" "checkpoint_timeout = 30min"
export PGTZ=UTC
W=$PARTMIG_TEST_DIR/cap
mkdir -p "$W/pol"
q() { PGDATABASE=$1 PGOPTIONS="-c client_min_messages=warning" psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$2"; }
q postgres "CREATE DATABASE tpl"
journal_entries tpl "$ROWS" 1430
cat >"$W/pol/je.lua" <<LUA
partition "journal_entries" { column = "created_at", interval = "1 month", premake = 0,
  primary_key = { "id", "created_at" }, indexes = { { columns = { "tenant_id" } } },
  existing = { method = "copy" } }
LUA
"$B" compile "$W/pol" -o "$W/mig" >/dev/null
cap() { PGDATABASE=w "$TOOLS/rate_writer" journal_entries 0 2 "$SECS" | sed -n 's/.*tps=\([0-9]*\).*/\1/p'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for r in $(seq 1 "$ROUNDS"); do
    for bin in A B; do
        exe=${!bin}
        q postgres "CREATE DATABASE w TEMPLATE tpl STRATEGY FILE_COPY"
        PGDATABASE=w "$exe" apply -d "$W/mig" --jobs 2 >/dev/null 2>"$W/apply.err" || { cat "$W/apply.err"; exit 1; }
        between=$(for i in $(seq 1 "$SAMPLES"); do cap; done | median)
        PGDATABASE=w "$exe" finalize public.journal_entries >/dev/null 2>"$W/fin.err" || { cat "$W/fin.err"; exit 1; }
        after=$(for i in $(seq 1 "$SAMPLES"); do cap; done | median)
        ratio=$(awk -v a="$between" -v b="$after" 'BEGIN { printf "%.2f", a / b }')
        echo "$bin round $r: between $between tps, after $after tps, between/after $ratio"
        echo "$ratio" >>"$W/ratio.$bin"
        q postgres "DROP DATABASE w WITH (FORCE)"
    done
done
for bin in A B; do echo "$bin: median between/after $(median <"$W/ratio.$bin")"; done
