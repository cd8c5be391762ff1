#!/usr/bin/env bash
# compile_migrations_current.sh: the committed migrations/ are what
# policies/ compile to (fails when someone changed a policy and did not
# run `partmig compile`, or edited a migration file).
. tests/lib/assert.sh
run_cmd "$PARTMIG" compile --check
assert_eq "$RC" 0 "partmig compile --check on policies/ -> migrations/ ($ERR)"
assert_contains "$ERR" "up to date" "check says the migrations are current"

# and the check can fail: a stale copy is detected
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r policies migrations "$tmp/"
sed -i 's/"24 months"/"36 months"/' "$tmp/policies/erp.lua"
run_cmd "$PARTMIG" compile "$tmp/policies" -o "$tmp/migrations" --check
assert_eq "$RC" 2 "a changed policy makes --check fail"
assert_contains "$ERR" "stale" "stale message"
assert_done
