#!/usr/bin/env bash
# sum_signing.sh: partmig.sum is an unkeyed hash -- it catches accidental
# edits, and a tamperer who recomputes it gets past compile --check's sum
# test.  docs/SECURITY.md's recipe signs partmig.sum with ssh-keygen -Y:
# this test runs the recipe as written and shows that a recomputed sum
# passes partmig's own check but fails the signature.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$PARTMIG" compile policies -o "$T/mig" --as-of 2026-01-01 >/dev/null
ssh-keygen -q -t ed25519 -N '' -C release@example.com -f "$T/release_key"
echo "release@example.com $(cat "$T/release_key.pub")" >"$T/allowed_signers"

# the recipe (docs/SECURITY.md)
ssh-keygen -Y sign -q -f "$T/release_key" -n partmig "$T/mig/partmig.sum"
verify() {
    ssh-keygen -Y verify -f "$T/allowed_signers" -I release@example.com -n partmig \
        -s "$T/mig/partmig.sum.sig" <"$T/mig/partmig.sum" >/dev/null 2>&1
}
verify
assert_eq "$?" 0 "a signed partmig.sum verifies"
run_cmd "$PARTMIG" compile policies -o "$T/mig" --as-of 2026-01-01 --check
assert_eq "$RC" 0 "the signature file beside partmig.sum does not disturb compile --check ($ERR)"

# a tamperer edits a migration and recomputes partmig.sum
f=$(ls "$T"/mig/0001_*.sql)
sed -i 's/lock_timeout = .500ms./lock_timeout = '"'"'1h'"'"'/' "$f"
run_cmd "$PARTMIG" compile policies -o "$T/mig" --as-of 2026-01-01 --check
assert_eq "$RC" 2 "an edited migration is refused while partmig.sum is old"
"$PARTMIG_TOOLS/runtime_sum" "$T/mig"
run_cmd "$PARTMIG" compile policies -o "$T/mig" --as-of 2026-01-01 --check
assert_not_contains "$ERR" "partmig.sum" "a recomputed partmig.sum passes partmig's own sum check"
verify && fail "the signature accepts a recomputed partmig.sum" || pass
assert_done
