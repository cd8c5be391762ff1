#!/usr/bin/env bash
# compile_help.sh: `partmig compile --help`, unknown options, bad --as-of.
. tests/lib/assert.sh
run_cmd "$PARTMIG" compile --help
assert_eq "$RC" 0 "compile --help exit code"
assert_contains "$OUT" "usage: partmig compile" "usage line"
assert_contains "$OUT" "--as-of" "documents --as-of"
assert_contains "$OUT" "--check" "documents --check"
run_cmd "$PARTMIG" compile --frobnicate
assert_eq "$RC" 2 "unknown option exit code"
assert_contains "$ERR" "unknown option \"--frobnicate\"" "unknown option message"
assert_contains "$ERR" "hint:" "unknown option hint"
run_cmd "$PARTMIG" compile --as-of 2025-02-30 -o /nonexistent/x
assert_eq "$RC" 2 "impossible --as-of date"
assert_contains "$ERR" "expected a real date" "bad date message"
run_cmd "$PARTMIG" compile -o
assert_eq "$RC" 2 "-o without a value"
run_cmd "$PARTMIG" compile /nonexistent/policy.lua -o "$(mktemp -d)/m"
assert_eq "$RC" 2 "missing policy file"
assert_contains "$ERR" "cannot read \"/nonexistent/policy.lua\": No such file or directory" "missing file message"
assert_done
