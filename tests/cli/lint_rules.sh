# lint_rules.sh: `partmig lint` on the fixtures in tests/lint/: each bad_*.sql
# must give exactly the findings its "-- expect: RULE..." comments name (at
# those lines), good_*.sql none, unparsable/ exit 2 with file:line; every rule
# of --help has a fixture; exit codes and usage errors.
cd "${PARTMIG_SOURCE:-.}" || exit 2
. tests/lib/assert.sh
case $PARTMIG in /*) ;; *) PARTMIG=$PWD/$PARTMIG ;; esac
FIX=tests/lint

# expected "LINE:RULE" pairs of a fixture, sorted
expected() {
    awk '{ i = index($0, "-- expect: "); if (i) { n = split(substr($0, i + 11), r, " ");
           for (k = 1; k <= n; k++) print NR ":" r[k] } }' "$1" | sort -u
}
# found "LINE:RULE" pairs in lint output for FILE, sorted
found() {
    printf '%s\n' "$2" | sed -n "s|^$1:\([0-9]*\): \([a-z-]*\): .*|\1:\2|p" | sort -u
}

nbad=0
for f in "$FIX"/bad_*.sql; do
    nbad=$((nbad + 1))
    run_cmd "$PARTMIG" lint "$f"
    assert_eq "$RC" 1 "$f: exit code"
    want=$(expected "$f")
    got=$(found "$f" "$OUT")
    [ -n "$want" ] || fail "$f has no '-- expect:' comment"
    assert_eq "$got" "$want" "$f: findings (line:rule)"
    # every finding line is followed by a hint line
    nfind=$(printf '%s\n' "$OUT" | grep -c "^$f:[0-9]*: ")
    nhint=$(printf '%s\n' "$OUT" | grep -c '^hint: .')
    assert_eq "$nhint" "$nfind" "$f: one hint per finding"
    assert_contains "$ERR" "finding" "$f: summary on stderr"
done
[ "$nbad" -ge 13 ] || fail "expected at least 13 bad fixtures, found $nbad"

for f in "$FIX"/good_*.sql; do
    run_cmd "$PARTMIG" lint "$f"
    assert_eq "$RC" 0 "$f: exit code"
    assert_eq "$OUT" "" "$f: no findings"
    assert_contains "$ERR" "0 findings" "$f: summary"
done

# every rule --help lists has a fixture that triggers it
run_cmd "$PARTMIG" lint --help
assert_eq "$RC" 0 "lint --help"
assert_contains "$OUT" "exit codes: 0 no findings, 1 findings, 2" "--help documents exit codes"
rules=$(printf '%s\n' "$OUT" | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p')
nrules=$(printf '%s\n' "$rules" | grep -c .)
[ "$nrules" -ge 13 ] || fail "expected at least 13 rules in --help, found $nrules"
for r in $rules; do
    if grep -q -- "-- expect: .*\b$r\b" "$FIX"/bad_*.sql; then pass; else fail "rule $r has no bad fixture"; fi
done

# unparsable input: exit 2, the error at file:line, nothing else reported
check_unparsable() { # FILE LINE TEXT
    run_cmd "$PARTMIG" lint "$1"
    assert_eq "$RC" 2 "$1: exit code"
    assert_contains "$ERR" "$1:$2: $3" "$1: error at its line"
}
check_unparsable "$FIX/unparsable/syntax_error.sql" 4 'syntax error at or near "CREAT"'
check_unparsable "$FIX/unparsable/do_body.sql" 5 'DO block: syntax error at or near "DROPP"'
check_unparsable "$FIX/unparsable/partmig_format.sql" 5 'step 1 has no "-- partmig:end"'
check_unparsable "$FIX/unparsable/partmig_step_sql.sql" 7 'syntax error at or near "WHERE"'

# a directory: its *.sql files; findings and errors together -> 2
run_cmd "$PARTMIG" lint "$FIX"
assert_eq "$RC" 1 "lint of the fixture directory (bad files, no unparsable ones at top level)"
assert_contains "$OUT" "$FIX/bad_cluster.sql:3: cluster:" "directory: files inside are linted"
run_cmd "$PARTMIG" lint "$FIX/unparsable"
assert_eq "$RC" 2 "lint of the unparsable directory"
run_cmd "$PARTMIG" lint "$FIX/good_partmig.sql" "$FIX/bad_cluster.sql"
assert_eq "$RC" 1 "several files: findings"
run_cmd "$PARTMIG" lint "$FIX/good_partmig.sql" "$FIX/good_online_patterns.sql"
assert_eq "$RC" 0 "several clean files"
assert_contains "$ERR" "2 files" "summary counts files"

# a directory is one history: what 0001 made partitioned still is in 0002
run_cmd "$PARTMIG" lint "$FIX/carry"
assert_eq "$RC" 1 "carry: findings"
for f in "$FIX"/carry/*.sql; do
    assert_eq "$(found "$f" "$OUT")" "$(expected "$f")" "carry: $f findings"
done
run_cmd "$PARTMIG" lint "$FIX/carry/0002_index.sql"
assert_eq "$RC" 0 "carry: 0002 alone cannot know events is partitioned"
run_cmd "$PARTMIG" lint "$FIX/carry/0003_policy.sql"
assert_eq "$RC" 1 "carry: a partmig policy line marks its table partitioned"

# the statements counted are those parsed: a migration's preamble SETs too
tmp=$(mktemp -d)
printf -- "-- partmig migration 0001 x\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\nSET search_path = pg_catalog;\nSET lock_timeout = '500ms';\nSET statement_timeout = 0;\nSET client_min_messages = warning;\n" >"$tmp/0001_x.sql"
run_cmd "$PARTMIG" lint "$tmp/0001_x.sql"
assert_eq "$RC" 0 "a migration of only SET statements lints clean"
assert_contains "$ERR" "lint: 1 file, 6 statements, 0 findings" "its SET statements are counted"
printf "SET lock_timeout = '1s';\nSET search_path = public;\n" >"$tmp/sets.sql"
run_cmd "$PARTMIG" lint "$tmp/sets.sql"
assert_contains "$ERR" "lint: 1 file, 2 statements, 0 findings" "a plain file of SET statements"
printf -- "-- partmig migration 0001 x\n\nSET lock_timeout = ;\n" >"$tmp/0001_bad.sql"
run_cmd "$PARTMIG" lint "$tmp/0001_bad.sql"
assert_eq "$RC" 2 "a preamble that does not parse"
assert_contains "$ERR" "$tmp/0001_bad.sql:3: syntax error" "its error at file:line"
rm -rf "$tmp"

# usage and unreadable input
run_cmd "$PARTMIG" lint --bogus
assert_eq "$RC" 2 "unknown option"
assert_contains "$ERR" 'partmig: lint: unknown option "--bogus"' "unknown option message"
run_cmd "$PARTMIG" lint "$FIX/does_not_exist.sql"
assert_eq "$RC" 2 "missing file"
assert_contains "$ERR" "does_not_exist.sql" "missing file is named"
tmp=$(mktemp -d)
run_cmd bash -c "cd '$tmp' && '$PARTMIG' lint"
assert_eq "$RC" 2 "no migrations/ directory by default"
mkdir "$tmp/migrations" && cp "$FIX/bad_cluster.sql" "$tmp/migrations/0001_x.sql"
run_cmd bash -c "cd '$tmp' && '$PARTMIG' lint"
assert_eq "$RC" 1 "default directory is migrations/"
assert_contains "$OUT" "migrations/0001_x.sql:3: cluster:" "default directory findings"
printf 'SELECT 1;\0DROP TABLE x;\n' >"$tmp/nul.sql"
run_cmd "$PARTMIG" lint "$tmp/nul.sql"
assert_eq "$RC" 2 "a file with a NUL byte"
rm -rf "$tmp"

assert_done
