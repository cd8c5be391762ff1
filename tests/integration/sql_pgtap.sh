#!/usr/bin/env bash
# sql_pgtap.sh: the SQL-level tests (pgTAP, tests/sql/*.sql) of the SQL
# files partmig embeds (sql/ledger.sql, sql/conversion.sql).  The files are
# loaded twice (they must be idempotent: that is the upgrade path), then
# each test file runs under psql; a test file fails on any "not ok", on a
# plan that does not match the tests run, or on an SQL error.  (pg_prove
# is not needed.)
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
export PGOPTIONS='-c client_min_messages=warning'
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pgtap; CREATE EXTENSION dblink; CREATE SCHEMA partmig"
for round in 1 2; do
    run_cmd psql -X -q -v ON_ERROR_STOP=1 -f sql/ledger.sql -f sql/conversion.sql
    assert_eq "$RC" 0 "the SQL files load (round $round: $ERR)"
done
n=0
for f in tests/sql/*.sql; do
    n=$((n + 1))
    run_cmd psql -X -q -A -t -v ON_ERROR_STOP=1 -f "$f"
    assert_eq "$RC" 0 "$f runs ($ERR)"
    planned=$(echo "$OUT" | sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' | head -1)
    ran=$(echo "$OUT" | grep -cE '^(not )?ok [0-9]+')
    assert_eq "$(echo "$OUT" | grep -E '^not ok' | head -5)" "" "$f: no test fails"
    assert_eq "$ran" "${planned:-none}" "$f: the plan matches the tests run"
    assert_eq "$(echo "$OUT" | grep -E '^# Looks like' | head -3)" "" "$f: pgTAP reports no problem"
    echo "$f: $ran tests"
done
assert_eq "$((n > 0))" 1 "there are pgTAP files"
assert_done
