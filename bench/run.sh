#!/usr/bin/env bash
# bench/run.sh: the benchmark driver behind `./build.sh bench`.  Runs every
# bench/*_bench.sh (or only those named: `bench/run.sh compile convert`),
# collects their result lines, prints one table and writes it, with the
# machine it ran on, to bench/results/latest.md.
#
# A bench script prints any log it likes, plus one line per result:
#   BENCH|name|value|unit|target|verdict
# name     what was measured ("backfill --jobs 2 vs INSERT ... SELECT")
# value    the number ("1.42")            unit   "x", "rows/s", "s", "MiB" ...
# target   the SPEC's goal (">= 1.3x") or "-"
# verdict  "pass", "miss" or "-" (no target), judged by the script
# and any number of markdown lines, put under the table as they come:
#   BENCHMD|| a | markdown | table |
# It exits 0 when it ran (a missed target is a result, not a failure) and
# non-zero when it could not measure.  It gets PARTMIG (the binary) and
# PARTMIG_SOURCE (the repository) in its environment.
#
# The report also gives the machine (CPUs, CPU model, memory, PostgreSQL) and
# its load average at the start and at the end: on a shared machine the
# numbers are only as good as that.
#
# Environment: BENCH_DIR (default bench/), BENCH_OUT (default
# bench/results/latest.md), BENCH_TIMEOUT seconds per script (default 10800).
# Exit: 0 every script ran, 1 a script failed or none was found, 2 usage.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
BENCH_DIR=${BENCH_DIR:-bench}
BENCH_OUT=${BENCH_OUT:-bench/results/latest.md}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-10800}
export PARTMIG=${PARTMIG:-$ROOT/build/partmig}
export PARTMIG_SOURCE=$ROOT

case "${1:-}" in
-h | --help)
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
-*) echo "bench/run.sh: unknown option \"$1\"" >&2; exit 2 ;;
esac

scripts=()
if [ $# -gt 0 ]; then
    for name in "$@"; do
        f=$BENCH_DIR/${name%_bench.sh}_bench.sh
        if [ -f "$f" ]; then scripts+=("$f"); else echo "bench/run.sh: no $f (skipped)" >&2; missing_named=1; fi
    done
else
    for f in "$BENCH_DIR"/*_bench.sh; do [ -f "$f" ] && scripts+=("$f"); done
fi

loadavg() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime | sed 's/.*load average: //'; }
load_start=$(loadavg)
started=$(date +%s)

machine() {
    local cpu mem pg
    cpu=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | sed 's/^[^:]*: *//')
    mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null)
    local server
    server=$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -1)
    [ -n "$server" ] && pg=$("$server" --version 2>/dev/null)
    [ -n "${pg:-}" ] || pg=$(pg_config --version 2>/dev/null || psql --version 2>/dev/null || echo "not found")
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: ${cpu:-unknown CPU}, $(nproc 2>/dev/null || echo '?') CPUs, ${mem:-unknown memory}"
    echo "- system: $(uname -sr 2>/dev/null)"
    echo "- PostgreSQL: $pg"
    echo "- load average (1, 5, 15 min): $load_start at the start, $(loadavg) at the end; the run took $((($(date +%s) - started + 30) / 60)) min"
    echo "- partmig: $("$PARTMIG" --version 2>/dev/null || echo "not built ($PARTMIG)"), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
}

rows=()   # "name|value|unit|target|verdict|script"
details=() # BENCHMD lines, in order
failed=0
for f in "${scripts[@]}"; do
    script=$(basename "$f")
    echo "== $script" >&2
    out=$(mktemp)
    # the script's output goes to stderr as it runs (stdout is the table); BENCH lines are kept
    timeout "$BENCH_TIMEOUT" bash "$f" | tee "$out" >&2
    rc=${PIPESTATUS[0]}
    n=0
    while IFS= read -r line; do
        case $line in BENCHMD\|*) details+=("${line#BENCHMD|}") ;; esac
    done <"$out"
    while IFS='|' read -r tag name value unit target verdict rest; do
        [ "$tag" = BENCH ] || continue
        if [ -z "$name" ] || [ -z "$value" ] || [ -n "$rest" ]; then
            echo "bench/run.sh: $script: malformed result line (want BENCH|name|value|unit|target|verdict)" >&2
            continue
        fi
        rows+=("$name|$value|${unit:--}|${target:--}|${verdict:--}|$script")
        n=$((n + 1))
    done <"$out"
    rm -f "$out"
    if [ "$rc" != 0 ]; then
        failed=1
        why="exit $rc"
        [ "$rc" = 124 ] && why="timed out after ${BENCH_TIMEOUT}s"
        rows+=("$script|FAILED ($why)|-|-|fail|$script")
    elif [ "$n" = 0 ]; then
        failed=1
        rows+=("$script|no result lines|-|-|fail|$script")
    fi
done

table() {
    echo "| benchmark | result | unit | target | verdict | script |"
    echo "|---|---:|---|---|---|---|"
    if [ ${#rows[@]} = 0 ]; then
        echo "| (no benchmarks found in $BENCH_DIR/) | - | - | - | - | - |"
    fi
    local r
    for r in "${rows[@]}"; do
        IFS='|' read -r name value unit target verdict script <<<"$r"
        echo "| $name | $value | $unit | $target | $verdict | $script |"
    done
}

report=$(
    echo "# partmig benchmarks"
    echo
    machine
    echo
    table
    if [ ${#details[@]} -gt 0 ]; then
        echo
        printf '%s\n' "${details[@]}"
    fi
    if [ ${#rows[@]} = 0 ]; then
        echo
        echo "No bench/*_bench.sh scripts ran."
    fi
)
echo >&2
printf '%s\n' "$report"
mkdir -p "$(dirname "$BENCH_OUT")"
printf '%s\n' "$report" >"$BENCH_OUT.tmp" && mv "$BENCH_OUT.tmp" "$BENCH_OUT"
echo >&2
echo "bench/run.sh: wrote $BENCH_OUT" >&2

[ ${#scripts[@]} -gt 0 ] || { echo "bench/run.sh: no benchmark scripts found in $BENCH_DIR/" >&2; exit 1; }
[ "$failed" = 0 ] && [ -z "${missing_named:-}" ]
