# bench_driver.sh: bench/run.sh collects BENCH lines from fake bench scripts
# into one table with the machine and its load, puts BENCHMD markdown lines
# under the table, survives a failing or malformed script, and
# runs (and fails cleanly) with no scripts at all.
cd "${PARTMIG_SOURCE:-.}" || exit 2
. tests/lib/assert.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/b"
cat >"$tmp/b/good_bench.sh" <<'EOS'
echo "log line"
echo "BENCH|compile 1000 policies|0.42|s|< 1 s|pass"
echo "BENCH|backfill --jobs 2|1.5|x|>= 1.3x|pass"
echo "BENCH|bad|line|with|too|many|fields"
echo "BENCHMD|| route | 1M rows |"
echo "BENCHMD||---|---|"
echo "BENCHMD|| offline | 3.63 (3.61 3.63 3.70) |"
EOS
echo 'echo "BENCH|half done|7|x|-|-"; exit 3' >"$tmp/b/broken_bench.sh"

run_cmd env BENCH_DIR="$tmp/b" BENCH_OUT="$tmp/r/latest.md" PARTMIG="$PARTMIG" bash bench/run.sh
assert_eq "$RC" 1 "a failing bench script makes the run fail"
assert_contains "$OUT" "| compile 1000 policies | 0.42 | s | < 1 s | pass | good_bench.sh |" "result row"
assert_contains "$OUT" "| backfill --jobs 2 | 1.5 | x | >= 1.3x | pass | good_bench.sh |" "second row"
assert_contains "$OUT" "| half done | 7 | x | - | - | broken_bench.sh |" "rows before a failure are kept"
assert_contains "$OUT" "FAILED (exit 3)" "the failure is in the table"
assert_not_contains "$OUT" "log line" "script logs stay off the table"
assert_contains "$ERR" "malformed result line" "malformed line reported"
assert_contains "$OUT" "- machine: " "machine line"
assert_contains "$OUT" "CPUs" "cpu count"
assert_contains "$OUT" "- PostgreSQL: " "postgres version"
assert_contains "$OUT" "- load average (1, 5, 15 min): " "load average at the start and end"
assert_contains "$OUT" "at the end; the run took" "run time"
assert_contains "$OUT" "| backfill --jobs 2 | 1.5 | x | >= 1.3x | pass | good_bench.sh |

| route | 1M rows |
|---|---|
| offline | 3.63 (3.61 3.63 3.70) |" "markdown lines under the table, verbatim"
assert_not_contains "$OUT" "BENCHMD" "the tag is stripped"
[ -f "$tmp/r/latest.md" ] && pass || fail "latest.md written"
assert_eq "$(cat "$tmp/r/latest.md")" "$OUT" "the file holds the printed table"

rm "$tmp/b/broken_bench.sh"
run_cmd env BENCH_DIR="$tmp/b" BENCH_OUT="$tmp/r/latest.md" PARTMIG="$PARTMIG" bash bench/run.sh good
assert_eq "$RC" 0 "a clean run by name"
run_cmd env BENCH_DIR="$tmp/b" BENCH_OUT="$tmp/r/latest.md" PARTMIG="$PARTMIG" bash bench/run.sh convert
assert_eq "$RC" 1 "a named bench that is missing"
assert_contains "$ERR" "convert_bench.sh (skipped)" "missing bench named"

mkdir "$tmp/empty"
run_cmd env BENCH_DIR="$tmp/empty" BENCH_OUT="$tmp/r/empty.md" PARTMIG="$PARTMIG" bash bench/run.sh
assert_eq "$RC" 1 "no bench scripts"
assert_contains "$OUT" "no benchmarks found" "empty table says so"
[ -f "$tmp/r/empty.md" ] && pass || fail "empty run still writes the file"

run_cmd bash bench/run.sh --bogus
assert_eq "$RC" 2 "unknown option"
assert_done
