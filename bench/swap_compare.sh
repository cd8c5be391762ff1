#!/usr/bin/env bash
# bench/swap_compare.sh: the copy conversion's swap (its lock window, as
# partmig.conversions.swap_ms records it) and the whole apply, at ~50 monthly
# and ~1,100 daily partitions, for two (or three) partmig binaries A, B (C)
# interleaved in the same run (A, B, A, B, ... per round, one fresh database
# each), so that the machine's load weighs on all alike.  Prints one line
# per run and the medians.  Run by hand (it compares binaries, so
# `./build.sh bench` does not run it: its name does not end in _bench.sh).
#
#   SWAP_A=path/to/old/partmig SWAP_B=build/partmig [SWAP_C=...] bench/swap_compare.sh
#   SWAP_ROUNDS=3  SWAP_ROWS=100000  SWAP_LAYOUTS="month day"
#   SWAP_WRITER=300  a fixed-rate writer (tests/tools/rate_writer, 2 clients,
#                    UPDATE ... WHERE id = $1) during each apply: its longest
#                    stall (max_ms, from each transaction's schedule) and
#                    the wall clock of its scheduled start (writer_at), and
#                    its last transaction's latency (writer_last_ms: near
#                    writer_max_ms, the writer was still falling behind when
#                    it stopped -- more writes than the new table takes);
#                    then the same writer flat out on the converted table
#                    for 2 s (writer_capacity_tps)
#   SWAP_WRITER_COLUMN=created_at  the writer names the partition column
#                    too (WHERE id = $1 AND created_at = $2): each statement
#                    is planned in one partition, as a workload the new
#                    layout serves; without it every id lookup probes all
#   SWAP_LOGS=DIR    keep, per run, apply's stderr with a wall-clock stamp on
#                    each line, the writer's output and the server log (with
#                    statements over 50 ms and lock waits over 20 ms), to
#                    find what the longest stall coincides with
set -euo pipefail
cd "$(dirname "$0")/.."
export PARTMIG_SOURCE=$PWD
A=${SWAP_A:?SWAP_A: the first partmig binary}
B=${SWAP_B:-$PWD/build/partmig}
C=${SWAP_C:-}
WRITER=${SWAP_WRITER:-}
WCOL=${SWAP_WRITER_COLUMN:-}
TOOLS=${PARTMIG_TOOLS:-$(dirname "$B")/tests}
BINS="A B${C:+ C}"
LAYOUTS=${SWAP_LAYOUTS:-month day}
ROUNDS=${SWAP_ROUNDS:-3}
ROWS=${SWAP_ROWS:-100000}
. tests/lib/pg.sh
LOGS=${SWAP_LOGS:-}
if [ -n "$LOGS" ]; then
    mkdir -p "$LOGS"
    pg_start "max_wal_size = 4GB" "shared_buffers = 256MB" "log_min_duration_statement = 50" \
        "log_lock_waits = on" "deadlock_timeout = 20ms" "log_line_prefix = '%m [%p] %a: '"
else
    pg_start "max_wal_size = 4GB" "shared_buffers = 256MB"
fi
W=$PARTMIG_TEST_DIR
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

# the data once, a template per layout: ROWS rows over the 1,500 days (50
# months) or 1,100 days before now (the partitions reach now)
for layout in $LAYOUTS; do
    span=$([ "$layout" = month ] && echo 1500 || echo 1100)
    start=$(date -u -d "-$span days" +%Y-%m-01)
    q postgres "CREATE DATABASE tpl_$layout"
    q "tpl_$layout" "CREATE TABLE public.je (id bigserial PRIMARY KEY, tenant_id int NOT NULL, amount numeric,
        created_at timestamptz NOT NULL);
      INSERT INTO public.je (tenant_id, amount, created_at)
        SELECT g % 300, g, timestamptz '$start' + ((g::bigint * $span * 86400) / $ROWS) * interval '1 second'
        FROM generate_series(0, $ROWS - 1) g;
      CREATE INDEX je_tenant_id_created_at_idx ON public.je (tenant_id, created_at)"
    q "tpl_$layout" "VACUUM ANALYZE public.je"
    mkdir -p "$W/pol_$layout"
    cat >"$W/pol_$layout/je.lua" <<LUA
partition "je" { column = "created_at", interval = "1 $layout", premake = 0, start = "$start",
  primary_key = { "id", "created_at" }, indexes = { { columns = { "tenant_id" } } },
  existing = { method = "copy", jobs = 2 } }
LUA
    "$B" compile "$W/pol_$layout" -o "$W/mig_$layout" >/dev/null
done

n=0
declare -A swaps applies
for round in $(seq 1 "$ROUNDS"); do
    for layout in $LAYOUTS; do
        for which in $BINS; do
            case $which in A) bin=$A ;; B) bin=$B ;; *) bin=$C ;; esac
            n=$((n + 1))
            db=run$n
            q postgres "CREATE DATABASE $db TEMPLATE tpl_$layout STRATEGY FILE_COPY"
            q "$db" "CHECKPOINT"
            if [ -n "$WRITER" ]; then
                rm -f "$W/stop" "$W/stop.ready"
                PGDATABASE=$db "$TOOLS/rate_writer" je "$WRITER" 2 "$W/stop" $WCOL >"$W/w$n.out" 2>&1 &
                wp=$!
                writer_ready "$W/stop" "$wp" || { echo "writer did not start: $(cat "$W/w$n.out")"; exit 1; }
                sleep 1
            fi
            t0=$(date +%s.%N)
            if [ -n "$LOGS" ]; then
                # each line stamped with the wall clock (UTC) it arrived at
                (PGDATABASE=$db "$bin" apply -d "$W/mig_$layout" 2>&1; echo "exit=$?") |
                    while IFS= read -r line; do printf '%s %s\n' "$(date -u +%T.%3N)" "$line"; done >"$W/apply$n.log"
                grep -q ' exit=0$' "$W/apply$n.log" || { echo "run $n failed:"; tail -5 "$W/apply$n.log"; exit 1; }
            else
                PGDATABASE=$db "$bin" apply -d "$W/mig_$layout" >"$W/apply$n.log" 2>&1 ||
                    { echo "run $n failed:"; tail -5 "$W/apply$n.log"; exit 1; }
            fi
            t1=$(date +%s.%N)
            stall=- stall_at=- last=- cap=-
            if [ -n "$WRITER" ]; then
                sleep 1
                touch "$W/stop"
                wait "$wp" || true
                stall=$(sed -n 's/.* max_ms=\([0-9.]*\).*/\1/p' "$W/w$n.out")
                stall_at=$(sed -n 's/.* at=\([0-9:.]*\).*/\1/p' "$W/w$n.out")
                last=$(sed -n 's/.* last_ms=\([0-9.]*\).*/\1/p' "$W/w$n.out")
                # what the converted table takes of these writes, flat out
                cap=$(PGDATABASE=$db "$TOOLS/rate_writer" je 0 2 2 $WCOL | sed -n 's/.* tps=\([0-9]*\).*/\1/p')
            fi
            if [ -n "$LOGS" ]; then
                cp "$W/apply$n.log" "$LOGS/apply$n.log"
                [ -z "$WRITER" ] || cp "$W/w$n.out" "$LOGS/writer$n.out"
                cp "$W/server.log" "$LOGS/server.log"
            fi
            parts=$(q "$db" "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.je'::regclass")
            swap=$(q "$db" "SELECT round(swap_ms::numeric, 1) FROM partmig.conversions")
            apply=$(echo "$t1 - $t0" | bc)
            # the indexes and statistics phase, as apply reports it
            ix=$(sed -n 's/.*partmig: .*: built .* in \([0-9]*\) ms\($\|;.*\)/\1/p' "$W/apply$n.log" | head -1)
            printf 'SWAP round=%d layout=%s partitions=%s bin=%s swap_ms=%s apply_s=%.2f indexes_ms=%s writer_max_ms=%s writer_at=%s writer_last_ms=%s writer_capacity_tps=%s\n' \
                "$round" "$layout" "$parts" "$which" "$swap" "$apply" "${ix:-?}" "${stall:-?}" "${stall_at:-?}" "${last:-?}" \
                "${cap:-?}"
            swaps[$layout$which]="${swaps[$layout$which]:-} $swap"
            applies[$layout$which]="${applies[$layout$which]:-} $apply"
            q postgres "DROP DATABASE $db"
        done
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for layout in $LAYOUTS; do
    for which in $BINS; do
        printf 'SWAP median layout=%s bin=%s swap_ms=%s apply_s=%.2f (load: %s)\n' "$layout" "$which" \
            "$(echo "${swaps[$layout$which]}" | median)" "$(echo "${applies[$layout$which]}" | median)" \
            "$(uptime | sed 's/.*load average: //')"
    done
done
