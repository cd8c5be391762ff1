#!/usr/bin/env bash
# help_reference.sh: the reference cannot drift from partmig.  `partmig help
# CMD` prints what `partmig CMD --help` prints; `partmig --help` lists every
# command, `help` and `--version`; docs/CLI.md has a section for every command
# holding every option its --help names; docs/POLICY.md names every policy key
# partmig accepts (read from partmig's own "allowed:" lists, nested tables
# too), every choice of every enumerated key, every naming placeholder and
# every POLICY_MAX_* limit of model/policy.h with its value.
#
# PARTMIG_REGENERATE=1 rewrites docs/CLI.md's command sections (everything
# after its "generated below" marker) from the --help texts; review the diff.
. tests/lib/assert.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
SRC=${PARTMIG_SOURCE:-.}
CLI=$SRC/docs/CLI.md
POLICY=$SRC/docs/POLICY.md
MARK='<!-- generated below from `partmig CMD --help` by tests/cli/help_reference.sh (PARTMIG_REGENERATE=1): do not edit by hand -->'

run_cmd "$PARTMIG" --help
assert_eq "$RC" 0 "partmig --help"
top=$OUT
assert_contains "$top" "--version" "--help lists --version"
assert_contains "$top" "partmig help [COMMAND]" "--help lists help COMMAND"
commands=$(printf '%s\n' "$top" | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z]*\) .*/\1/p')
[ -n "$commands" ] && pass || fail "no commands listed in --help"
assert_contains "$commands" "init" "init is a command"
assert_eq "$("$PARTMIG" --version)" "$("$PARTMIG" --version 2>&1 | grep -E '^partmig [0-9]+\.[0-9]+\.[0-9]+$')" "--version prints partmig X.Y.Z"

if [ "${PARTMIG_REGENERATE:-}" = 1 ]; then
    { sed "/^$(printf '%s' "$MARK" | sed 's/[][\.*^$/]/\\&/g')\$/q" "$CLI"
      for c in $commands; do
          printf '\n## partmig %s\n\n```text\n' "$c"
          "$PARTMIG" "$c" --help
          printf '```\n'
      done; } >"$tmp/CLI.md"
    cp "$tmp/CLI.md" "$CLI"
    echo "rewrote $CLI"
fi
assert_eq "$(grep -cxF "$MARK" "$CLI")" 1 "docs/CLI.md has its generated-sections marker"

for c in $commands; do
    run_cmd "$PARTMIG" "$c" --help
    assert_eq "$RC" 0 "partmig $c --help"
    help=$OUT
    run_cmd "$PARTMIG" help "$c"
    assert_eq "$RC" 0 "partmig help $c"
    assert_eq "$OUT" "$help" "partmig help $c prints partmig $c --help"
    section=$(awk -v h="## partmig $c" '$0 == h {on=1; next} on && /^## / {exit} on' "$CLI")
    [ -n "$section" ] && pass || fail "docs/CLI.md has no section \"## partmig $c\" (run this test with PARTMIG_REGENERATE=1)"
    for opt in $(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z-]+' | sort -u) \
        $(printf '%s\n' "$help" | grep -oE -- '^ +-[a-zA-Z]\b' | tr -d ' ' | sort -u); do
        assert_contains "$section" "$opt" "docs/CLI.md, partmig $c: option $opt (run with PARTMIG_REGENERATE=1)"
    done
done
run_cmd "$PARTMIG" help nosuch
assert_eq "$RC" 2 "partmig help of an unknown command"
assert_contains "$ERR" 'unknown command "nosuch"' "it is named"

# --- docs/POLICY.md: every key, choice, placeholder and limit ---------------------
policy=$(cat "$POLICY")
allowed() { # POLICY_BODY -> the keys of the "allowed:" list of its error
    printf '%s\n' "$1" >"$tmp/p.lua"
    "$PARTMIG" compile "$tmp/p.lua" -o "$tmp/m" 2>&1 | sed -n 's/.*; allowed: //p' | tr -d ',' | head -1
}
R='column = "c", interval = "1 month"'
for body in "partition \"t\" { $R, zz = 1 }" \
    "partition \"t\" { $R, retention = { keep = \"24 months\", zz = 1 } }" \
    "partition \"t\" { $R, indexes = { { columns = { \"a\" }, zz = 1 } } }" \
    "partition \"t\" { $R, tiering = { { older_than = \"1 month\", tablespace = \"x\", zz = 1 } } }" \
    "partition \"t\" { $R, subpartition = { by = \"hash\", column = \"d\", modulus = 2, zz = 1 } }" \
    "partition \"t\" { $R, existing = { zz = 1 } }"; do
    keys=$(allowed "$body")
    [ -n "$keys" ] && pass || fail "no allowed: list for: $body"
    for k in $keys; do assert_contains "$policy" "\`$k\`" "docs/POLICY.md names key $k"; done
done
choices() { # POLICY_BODY -> the quoted choices of its "expected ..." error
    printf '%s\n' "$1" >"$tmp/p.lua"
    "$PARTMIG" compile "$tmp/p.lua" -o "$tmp/m" 2>&1 | head -1 | sed 's/.*expected //' | grep -oE '"[a-z_]+"' | tr -d '"'
}
for body in "partition \"t\" { $R, by = \"zz\" }" \
    "partition \"t\" { $R, backend = \"zz\" }" \
    "partition \"t\" { $R, existing = { method = \"zz\" } }" \
    "partition \"t\" { $R, indexes = { { columns = { \"a\" }, method = \"zz\" } } }" \
    "partition \"t\" { $R, subpartition = { by = \"zz\", column = \"d\" } }"; do
    cs=$(choices "$body")
    [ -n "$cs" ] && pass || fail "no choices for: $body"
    for ch in $cs; do assert_contains "$policy" "\"$ch\"" "docs/POLICY.md names choice \"$ch\""; done
done
printf '%s\n' "partition \"t\" { $R, naming = \"{table}_{zz}\" }" >"$tmp/p.lua"
placeholders=$("$PARTMIG" compile "$tmp/p.lua" -o "$tmp/m" 2>&1 | sed -n 's/.*allowed: //p' | grep -oE '\{[A-Za-z]+\}')
[ -n "$placeholders" ] && pass || fail "no placeholders listed"
for ph in $placeholders; do assert_contains "$policy" "\`$ph\`" "docs/POLICY.md names placeholder $ph"; done
while read -r name value; do
    row=$(printf '%s\n' "$policy" | grep -F "| \`$name\` |")
    [ -n "$row" ] && pass || fail "docs/POLICY.md lists limit $name"
    case $value in
    *'<<'*) n=${value//[()]/}; n=$(( n )); assert_contains "$row" "$((n >> 20)) MiB" "limit $name is $((n >> 20)) MiB" ;;
    *) assert_contains "$row" "| $value " "limit $name is $value" ;;
    esac
done < <(sed -n 's/^#define \(POLICY_[A-Z_]*\) *\([0-9][0-9]*\|([0-9]* << [0-9]*)\).*/\1 \2/p' "$SRC/model/policy.h")
assert_contains "$policy" 'file:line: print: text' "docs/POLICY.md says where print writes"
assert_done
