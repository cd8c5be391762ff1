#!/usr/bin/env bash
# tests/golden/run.sh: compile each case's policy.lua into a fresh directory
# with a fixed --as-of and compare with the case's expected/ files.
cd "${PARTMIG_SOURCE:-$(dirname "$0")/../..}" || exit 1
. tests/lib/assert.sh
AS_OF=2025-03-15
for dir in tests/golden/cases/*/; do
    dir=${dir%/}
    name=$(basename "$dir")
    out=$(mktemp -d)
    run_cmd "$PARTMIG" compile "$dir/policy.lua" -o "$out/m" --as-of "$AS_OF"
    assert_eq "$RC" 0 "$name: compile exit code ($ERR)"
    if diff -ru "$dir/expected" "$out/m" >"$out/diff"; then
        pass
    else
        fail "$name: output differs from expected (run tests/golden/regenerate.sh and review):"
        head -40 "$out/diff" >&2
    fi
    rm -rf "$out"
done
assert_done
