#!/usr/bin/env bash
# squawk_golden.sh: squawk, the PostgreSQL migration linter teams run in CI,
# finds nothing in what partmig writes: every golden expected output,
# migrations/, and a later version of the ERP policies (an index dropped,
# premake raised, a table forgotten).  Where squawk is wrong about partmig's
# SQL the file carries squawk's ignore comment with the reason.  squawk is
# installed by ./build.sh (npm package squawk-cli); without it this test
# fails, saying how to install it.
cd "${PARTMIG_SOURCE:-.}" || exit 2
. tests/lib/assert.sh
case $PARTMIG in /*) ;; *) PARTMIG=$PWD/$PARTMIG ;; esac

SQUAWK=${PARTMIG_SQUAWK:-}
for c in "${XDG_CACHE_HOME:-$HOME/.cache}/partmig/squawk/node_modules/.bin/squawk" "$(command -v squawk 2>/dev/null)"; do
    [ -z "$SQUAWK" ] && [ -n "$c" ] && [ -x "$c" ] && SQUAWK=$c
done
if [ -z "$SQUAWK" ] || ! "$SQUAWK" --version >/dev/null 2>&1; then
    echo "FAIL: squawk not found; run ./build.sh (it installs the npm package squawk-cli into" \
        "${XDG_CACHE_HOME:-$HOME/.cache}/partmig/squawk), or: npm install --prefix" \
        "${XDG_CACHE_HOME:-$HOME/.cache}/partmig/squawk squawk-cli, or set PARTMIG_SQUAWK=/path/to/squawk" >&2
    exit 1
fi
echo "using $("$SQUAWK" --version)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lint() { "$SQUAWK" --reporter gcc --pg-version 15 "$@"; }

# squawk works here: a plain CREATE INDEX on an existing table is a finding
printf "SET lock_timeout = '1s';\nSET statement_timeout = '5s';\nCREATE INDEX IF NOT EXISTS i ON t (a);\n" >"$tmp/bad.sql"
run_cmd lint "$tmp/bad.sql"
assert_eq "$RC" 1 "squawk reports a plain CREATE INDEX"
assert_contains "$OUT" "require-concurrent-index-creation" "the finding names its rule"

files=(migrations/*.sql tests/golden/cases/*/expected/*.sql)
[ "${#files[@]}" -ge 11 ] || fail "expected migrations/ and 10 golden outputs, found ${#files[@]} files"

# later versions: an index dropped and premake raised, then a table forgotten
mkdir -p "$tmp/p"
cp policies/erp.lua "$tmp/p/erp.lua"
"$PARTMIG" compile "$tmp/p" -o "$tmp/m" --as-of 2025-01-01 >/dev/null 2>&1 || fail "compile version 1"
sed -i -e 's/  indexes     = { { columns = { "tenant_id" } } },//' -e 's/premake = 3/premake = 4/' "$tmp/p/erp.lua"
"$PARTMIG" compile "$tmp/p" -o "$tmp/m" --as-of 2025-01-01 >/dev/null 2>&1 || fail "compile version 2"
sed -i '/^partition "workflow_logs"/,/^}/d' "$tmp/p/erp.lua"
"$PARTMIG" compile "$tmp/p" -o "$tmp/m" --as-of 2025-01-01 --forget public.workflow_logs >/dev/null 2>&1 ||
    fail "compile version 3"
assert_eq "$(ls "$tmp"/m/*.sql | wc -l)" 3 "three versions compiled"
assert_contains "$(cat "$tmp"/m/0002_*.sql)" "DROP INDEX" "version 2 drops an index"
files+=("$tmp"/m/*.sql)

run_cmd lint "${files[@]}"
assert_eq "$RC" 0 "squawk finds nothing in ${#files[@]} files"
[ "$RC" = 0 ] || printf '%s\n' "$OUT" | head -20 >&2
# every ignore says why (text after a second "--"), and names a rule
bare=$(grep -h 'squawk-ignore' "${files[@]}" | grep -v -- '-- squawk-ignore [a-z-]*\( *, *[a-z-]*\)* -- [^ ]' | head -3)
assert_eq "$bare" "" "every squawk-ignore names its rule and gives a reason"
# and partmig lint honours them: no finding in the same files
run_cmd "$PARTMIG" lint "${files[@]}"
assert_eq "$RC" 0 "partmig lint finds nothing in them either ($OUT)"
assert_done
