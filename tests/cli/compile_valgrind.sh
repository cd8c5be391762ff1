#!/usr/bin/env bash
# compile_valgrind.sh: a compile (success, policy error, sandbox timeout)
# leaks nothing and touches no invalid memory under valgrind.
. tests/lib/assert.sh
if ! command -v valgrind >/dev/null; then
    fail "valgrind is not installed (./build.sh installs it)"
    assert_done
fi
if ldd "$PARTMIG" 2>/dev/null | grep -q 'libasan'; then
    echo "skip: $PARTMIG is an AddressSanitizer build, which valgrind cannot run; the plain build runs this test"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vg() { valgrind -q --leak-check=full --errors-for-leak-kinds=all --error-exitcode=99 "$PARTMIG" "$@"; }
run_cmd vg compile tests/golden/cases/subpartition/policy.lua -o "$tmp/a" --as-of 2025-03-15
assert_eq "$RC" 0 "compile under valgrind ($ERR)"
run_cmd vg compile policies -o "$tmp/b" --as-of 2025-03-15
assert_eq "$RC" 0 "compile policies/ under valgrind ($ERR)"
run_cmd vg compile policies -o "$tmp/b" --as-of 2025-03-15
assert_eq "$RC" 0 "unchanged recompile under valgrind ($ERR)"
printf 'partition "t" { column = "c", interval = "1 monht" }\n' >"$tmp/bad.lua"
run_cmd vg compile "$tmp/bad.lua" -o "$tmp/c"
assert_eq "$RC" 2 "policy error under valgrind ($ERR)"
printf 'local s = "x" while true do s = s .. s end\n' >"$tmp/bomb.lua"
run_cmd vg compile "$tmp/bomb.lua" -o "$tmp/d"
assert_eq "$RC" 2 "memory bomb under valgrind ($ERR)"
assert_done
