#!/usr/bin/env bash
# bench/finalize_compare.sh: `partmig finalize` (its verification of every
# row of both tables, then the drop of the old table) for two (or three)
# partmig binaries A, B (C), interleaved in the same run (A, B, A, B, ...
# per round, each on a fresh copy of the same swapped database), so that the
# machine's load weighs on all alike.  The data and policy are
# convert_bench.sh's (journal_entries over 1,430 days, monthly partitions);
# B's apply --jobs 2 brings the template to the swapped state once, timed,
# for the ratio finalize / apply.  Prints one line per run and the medians.
# Run by hand (it compares binaries: its name does not end in _bench.sh).
#
#   FIN_A=/tmp/old/partmig FIN_B=build/partmig [FIN_C=...] bench/finalize_compare.sh
#   FIN_ROUNDS=3  FIN_ROWS=3000000  FIN_SPAN_DAYS=1430  FIN_UNIT=month
#   FIN_ARGS_A / FIN_ARGS_B / FIN_ARGS_C: extra finalize options (--jobs 1)
#   FIN_QUIET=S   before each run, wait up to S seconds for a second in which
#                 the machine is at least 90% idle (others' load on a
#                 shared machine takes the core the second connection
#                 needs); the idle share found is printed with the run
#   FIN_LOG_MS=N  the server logs statements of N ms or more: each run's
#                 slow statements are printed after its line (the phases)
set -euo pipefail
cd "$(dirname "$0")/.."
export PARTMIG_SOURCE=$PWD
A=${FIN_A:?FIN_A: the first partmig binary}
B=${FIN_B:-$PWD/build/partmig}
C=${FIN_C:-}
BINS="A B${C:+ C}"
ROUNDS=${FIN_ROUNDS:-3}
ROWS=${FIN_ROWS:-3000000}
SPAN=${FIN_SPAN_DAYS:-1430}
UNIT=${FIN_UNIT:-month}
. tests/lib/pg.sh
. bench/lib.sh
pg_start "max_wal_size = 4GB" "shared_buffers = 512MB" "checkpoint_timeout = 30min" \
    "log_min_duration_statement = ${FIN_LOG_MS:--1}" "log_line_prefix = '%m %a|'"
export PGTZ=UTC
W=$PARTMIG_TEST_DIR
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

idle() { # the machine's idle share over the next second, in percent
    local a b
    a=($(head -1 /proc/stat))
    sleep 1
    b=($(head -1 /proc/stat))
    local total=0 i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    echo $(((b[4] - a[4]) * 100 / (total > 0 ? total : 1)))
}
quiet() { # up to FIN_QUIET seconds for an idle second
    local until=$(($(date +%s) + ${FIN_QUIET:-0})) got
    got=$(idle)
    while [ "$got" -lt 90 ] && [ "$(date +%s)" -lt "$until" ]; do got=$(idle); done
    echo "$got"
}

q postgres "CREATE DATABASE tpl"
journal_entries tpl "$ROWS" "$SPAN"
mkdir -p "$W/pol"
cat >"$W/pol/je.lua" <<LUA
partition "journal_entries" { column = "created_at", interval = "1 $UNIT", premake = 0,
  primary_key = { "id", "created_at" }, indexes = { { columns = { "tenant_id" } } },
  existing = { method = "copy" } }
LUA
"$B" compile "$W/pol" -o "$W/mig" >/dev/null
q tpl "CHECKPOINT"
[ -n "${FIN_QUIET:-}" ] && echo "FIN idle before apply: $(quiet)%"
t0=$(date +%s.%N)
PGDATABASE=tpl "$B" apply -d "$W/mig" --jobs 2 >"$W/apply.log" 2>&1 || { tail -5 "$W/apply.log"; exit 1; }
t1=$(date +%s.%N)
apply_s=$(echo "$t1 - $t0" | bc)
parts=$(q tpl "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.journal_entries'::regclass")
printf 'FIN apply rows=%s partitions=%s apply_s=%.2f\n' "$ROWS" "$parts" "$apply_s"
q tpl "VACUUM ANALYZE"
q tpl "CHECKPOINT"

n=0
declare -A fins verifs
for round in $(seq 1 "$ROUNDS"); do
    for which in $BINS; do
        case $which in A) bin=$A args=${FIN_ARGS_A:-} ;; B) bin=$B args=${FIN_ARGS_B:-} ;;
            *) bin=$C args=${FIN_ARGS_C:-} ;; esac
        n=$((n + 1))
        db=run$n
        q postgres "CREATE DATABASE $db TEMPLATE tpl STRATEGY FILE_COPY"
        q "$db" "CHECKPOINT"
        logfrom=$(wc -l <"$W/server.log")
        idle_pct=-
        [ -n "${FIN_QUIET:-}" ] && idle_pct=$(quiet)
        t0=$(date +%s.%N)
        # shellcheck disable=SC2086
        PGDATABASE=$db "$bin" finalize journal_entries $args >"$W/fin$n.log" 2>&1 ||
            { echo "run $n failed:"; tail -5 "$W/fin$n.log"; exit 1; }
        t1=$(date +%s.%N)
        fin=$(echo "$t1 - $t0" | bc)
        # the verification's own time, as finalize reports it
        ver=$(sed -n 's/.*match (\([0-9.]*\) s)$/\1/p' "$W/fin$n.log" | head -1)
        printf 'FIN round=%d bin=%s finalize_s=%.2f verify_s=%s ratio=%.3f idle_before=%s%%\n' "$round" "$which" "$fin" \
            "${ver:-?}" "$(echo "$fin / $apply_s" | bc -l)" "$idle_pct"
        [ -n "${FIN_LOG_MS:-}" ] && tail -n +"$((logfrom + 1))" "$W/server.log" | grep 'duration:' |
            grep -v 'CREATE DATABASE\|CHECKPOINT' | cut -c1-220 | sed 's/^/    /' || true
        fins[$which]="${fins[$which]:-} $fin"
        verifs[$which]="${verifs[$which]:-} ${ver:-}"
        q postgres "DROP DATABASE $db"
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for which in $BINS; do
    m=$(echo "${fins[$which]}" | median)
    printf 'FIN median bin=%s finalize_s=%.2f verify_s=%s finalize/apply=%.3f (load: %s)\n' "$which" "$m" \
        "$(echo "${verifs[$which]}" | median)" "$(echo "$m / $apply_s" | bc -l)" "$(uptime | sed 's/.*load average: //')"
done
