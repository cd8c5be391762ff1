#!/usr/bin/env bash
# compile_migrations_current.sh: the committed migrations/ are what
# policies/ compile to (fails when someone changed a policy and did not
# run `partmig compile`, or edited a migration file).
. tests/lib/assert.sh
run_cmd "$PARTMIG" compile --check
assert_eq "$RC" 0 "partmig compile --check on policies/ -> migrations/ ($ERR)"
assert_contains "$ERR" "up to date" "check says the migrations are current"

# byte for byte: a fresh compile with the --as-of erp.lua names reproduces
# the committed files (header lines included)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
as_of=$(sed -n 's/.*partmig compile --as-of \([0-9-]*\).*/\1/p' policies/erp.lua | head -1)
assert_contains "$as_of" "-" "erp.lua names the --as-of its migrations were compiled with"
"$PARTMIG" compile policies -o "$tmp/fresh" --as-of "$as_of" >/dev/null 2>&1
run_cmd diff -r migrations "$tmp/fresh"
assert_eq "$RC" 0 "migrations/ is byte-identical to a fresh compile ($OUT)"

# and the check can fail: a stale copy is detected
cp -r policies migrations "$tmp/"
sed -i 's/"24 months"/"36 months"/' "$tmp/policies/erp.lua"
run_cmd "$PARTMIG" compile "$tmp/policies" -o "$tmp/migrations" --check
assert_eq "$RC" 2 "a changed policy makes --check fail"
assert_contains "$ERR" "stale" "stale message"
assert_done
