#!/usr/bin/env bash
# tests/golden/regenerate.sh: rewrite every case's expected/ output, then
# review the git diff.  Uses the same fixed --as-of as run.sh.
#
# ctest also runs this script (it globs tests/golden/*.sh); there
# PARTMIG_SOURCE is set and the script writes into a scratch copy and only
# checks that regenerating changes nothing, so a test run never rewrites the
# committed expectations.
set -euo pipefail
cd "$(dirname "$0")/../.."
PARTMIG=${PARTMIG:-build/partmig}
AS_OF=2025-03-15
if [ -n "${PARTMIG_SOURCE:-}" ]; then
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    status=0
    for dir in tests/golden/cases/*/; do
        dir=${dir%/}
        "$PARTMIG" compile "$dir/policy.lua" -o "$scratch/$(basename "$dir")" --as-of "$AS_OF" >/dev/null
        if ! diff -r "$dir/expected" "$scratch/$(basename "$dir")" >/dev/null; then
            echo "FAIL: $dir: regenerating would change expected/ (run ./build.sh golden and review)" >&2
            status=1
        fi
    done
    [ $status = 0 ] && echo "golden expectations are current"
    exit $status
fi
for dir in tests/golden/cases/*/; do
    dir=${dir%/}
    rm -rf "$dir/expected"
    "$PARTMIG" compile "$dir/policy.lua" -o "$dir/expected" --as-of "$AS_OF" >/dev/null
    echo "regenerated $dir"
done
