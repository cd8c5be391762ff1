# valgrind_lint.sh: `partmig lint` under valgrind memcheck over every fixture
# (clean, findings, unparsable, usage errors): no invalid access, no leak.
# valgrind is a build dependency (build.sh installs it): missing is a failure.
cd "${PARTMIG_SOURCE:-.}" || exit 2
. tests/lib/assert.sh

command -v valgrind >/dev/null || { echo "FAIL: valgrind is not installed (./build.sh installs it)" >&2; exit 1; }
if ldd "$PARTMIG" 2>/dev/null | grep -q 'libasan'; then
    echo "skip: $PARTMIG is an AddressSanitizer build, which valgrind cannot run; the plain build runs this test"
    exit 0
fi

VG=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible
    --suppressions=tests/cli/valgrind_lint.supp)

# vg WANT_RC ARGS...: lint under valgrind must exit WANT_RC and report nothing
vg() {
    local want=$1; shift
    run_cmd "${VG[@]}" "$PARTMIG" lint "$@"
    assert_eq "$RC" "$want" "valgrind partmig lint $*"
    assert_not_contains "$ERR" "==" "valgrind report for lint $*"
}

vg 1 tests/lint
for f in tests/lint/good_*.sql; do vg 0 "$f"; done
for f in tests/lint/bad_*.sql; do vg 1 "$f"; done
for f in tests/lint/unparsable/*.sql; do vg 2 "$f"; done
vg 2 tests/lint/unparsable tests/lint/good_partmig.sql
vg 2 tests/lint/does_not_exist.sql
vg 2 --no-such-option
vg 0 --help
if ls migrations/*.sql >/dev/null 2>&1; then vg 0 migrations; fi

assert_done
