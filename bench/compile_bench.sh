#!/usr/bin/env bash
# bench/compile_bench.sh: time `partmig compile` of 1,000 policies into an
# empty directory -- once as one file with a Lua loop, once as 1,000 small
# files -- and a no-op recompile (nothing changed).  Target: well under 1 s.
# Prints BENCH lines for bench/run.sh.
set -euo pipefail
cd "${PARTMIG_SOURCE:-$(dirname "$0")/..}"
PARTMIG=${PARTMIG:-build/partmig}
N=${COMPILE_BENCH_N:-1000}
RUNS=${COMPILE_BENCH_RUNS:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/loop.lua" <<LUA
defaults { premake = 3, timezone = "UTC" }
for i = 1, $N do
  partition(string.format("table_%04d", i)) {
    column = "created_at", interval = "1 month", start = "2024-01-01",
    primary_key = { "id", "created_at" },
    indexes = { { columns = { "tenant_id" } } },
    retention = { keep = "24 months" },
  }
end
LUA
mkdir -p "$tmp/many"
for i in $(seq -f '%04g' 1 "$N"); do
    printf 'partition "t_%s" { column = "created_at", interval = "1 month", start = "2024-01-01",\n  indexes = { { columns = { "tenant_id" } } }, retention = { keep = "24 months" } }\n' "$i" >"$tmp/many/p$i.lua"
done

# best of RUNS, in seconds
best() {
    local best_ms=999999 t0 t1 ms
    for _ in $(seq "$RUNS"); do
        rm -rf "$tmp/out"
        [ "${KEEP_OUT:-}" = 1 ] && cp -r "$tmp/keep" "$tmp/out"
        t0=$(date +%s%N)
        "$PARTMIG" compile "$@" -o "$tmp/out" --as-of 2025-06-30 >/dev/null 2>&1
        t1=$(date +%s%N)
        ms=$(((t1 - t0) / 1000000))
        [ "$ms" -lt "$best_ms" ] && best_ms=$ms
    done
    awk -v ms="$best_ms" 'BEGIN { printf "%.3f", ms / 1000 }'
}
verdict() { awk -v s="$1" 'BEGIN { print (s < 1.0 ? "pass" : "miss") }'; }

loop=$(best "$tmp/loop.lua")
many=$(best "$tmp/many")
"$PARTMIG" compile "$tmp/loop.lua" -o "$tmp/keep" --as-of 2025-06-30 >/dev/null 2>&1
noop=$(KEEP_OUT=1 best "$tmp/loop.lua")
size=$(du -k "$tmp/keep" | awk '{print $1}')
echo "compile of $N policies: one file with a loop ${loop}s, $N files ${many}s, unchanged recompile ${noop}s; output ${size} KiB" >&2
echo "BENCH|compile $N policies (one file, Lua loop)|$loop|s|< 1 s|$(verdict "$loop")"
echo "BENCH|compile $N policies ($N files)|$many|s|< 1 s|$(verdict "$many")"
echo "BENCH|recompile $N unchanged policies|$noop|s|< 1 s|$(verdict "$noop")"
