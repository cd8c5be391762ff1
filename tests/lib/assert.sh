# tests/lib/assert.sh: assertions for shell tests.  Each script ends with
# `assert_done`, which prints "N passed, N failed" and sets the exit code.
ASSERT_PASSED=0
ASSERT_FAILED=0
PARTMIG=${PARTMIG:-build/partmig}

pass() { ASSERT_PASSED=$((ASSERT_PASSED + 1)); }
fail() { ASSERT_FAILED=$((ASSERT_FAILED + 1)); echo "FAIL: $*" >&2; }

# assert_eq GOT WANT MESSAGE
assert_eq() { if [ "$1" = "$2" ]; then pass; else fail "$3: got '$1', want '$2'"; fi; }
# assert_contains HAYSTACK NEEDLE MESSAGE
assert_contains() { case "$1" in *"$2"*) pass ;; *) fail "$3: '$2' not in: $1" ;; esac; }
assert_not_contains() { case "$1" in *"$2"*) fail "$3: '$2' unexpectedly in: $1" ;; *) pass ;; esac; }

# run_cmd CMD...: runs, sets $OUT (stdout), $ERR (stderr), $RC
run_cmd() {
    local o e
    o=$(mktemp) e=$(mktemp)
    "$@" >"$o" 2>"$e"
    RC=$?
    OUT=$(cat "$o")
    ERR=$(cat "$e")
    rm -f "$o" "$e"
}

assert_done() {
    echo "$ASSERT_PASSED passed, $ASSERT_FAILED failed"
    [ "$ASSERT_FAILED" = 0 ]
    exit $?
}
