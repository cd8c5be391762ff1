# command_options.sh: the options a command adds to the shared ones
# (status's --check, --format and thresholds, maintain's --drain-default)
# are parsed with them: both spellings of a value, their errors, and the
# shared errors; all before any connection (PGHOST points nowhere).
cd "${PARTMIG_SOURCE:-.}" || exit 2
. tests/lib/assert.sh
export PGHOST=/nonexistent PGCONNECT_TIMEOUT=1
unset PARTMIG_DATABASE_URL

run_cmd "$PARTMIG" status --format xml
assert_eq "$RC" 2 "status --format xml"
assert_eq "$ERR" 'partmig: status: --format "xml": expected text, json or openmetrics
hint: run "partmig status --help"' "status --format xml: message"
run_cmd "$PARTMIG" status --format=xml
assert_contains "$ERR" '--format "xml": expected text' "status --format=xml"
run_cmd "$PARTMIG" status --format
assert_eq "$RC" 2 "status --format without a value"
assert_contains "$ERR" 'partmig: status: option "--format" needs a value' "status --format: message"
run_cmd "$PARTMIG" status --premake-warn abc
assert_eq "$RC" 2 "status --premake-warn abc"
assert_contains "$ERR" '--premake-warn "abc": expected a number' "status --premake-warn abc: message"
run_cmd "$PARTMIG" status --maintain-crit=2x
assert_contains "$ERR" '--maintain-crit "2x": expected a number' "status --maintain-crit=2x: message"
# a check reports bad usage as UNKNOWN (3), wherever --check stands
run_cmd "$PARTMIG" status --bogus --check
assert_eq "$RC" 3 "status --bogus --check is UNKNOWN"
assert_contains "$ERR" 'unknown option "--bogus"' "status --bogus --check: message"
run_cmd "$PARTMIG" status --check --stalled-warn -5
assert_eq "$RC" 3 "status --check --stalled-warn -5 is UNKNOWN"
run_cmd "$PARTMIG" status --to 3
assert_eq "$RC" 2 "status --to"
assert_contains "$ERR" 'option "--to" does not apply here' "status --to: message"
# valid options get as far as connecting
run_cmd "$PARTMIG" status --format=json --premake-warn 5 --maintain-warn 2h --check
assert_eq "$RC" 3 "status with valid options: UNKNOWN only for the connection"
assert_contains "$OUT$ERR" "connect" "status with valid options: fails connecting"

run_cmd "$PARTMIG" maintain --drain-default --bogus
assert_eq "$RC" 2 "maintain --drain-default --bogus"
assert_contains "$ERR" 'partmig: maintain: unknown option "--bogus"' "maintain --bogus: message"
run_cmd "$PARTMIG" maintain --drain-default=yes
assert_eq "$RC" 2 "maintain --drain-default=yes"
run_cmd "$PARTMIG" maintain --drain-default --dry-run --wait 0
assert_eq "$RC" 1 "maintain --drain-default --dry-run: only the connection fails"
assert_contains "$ERR" "connect" "maintain with valid options: fails connecting"
run_cmd "$PARTMIG" maintain --json
assert_contains "$ERR" 'option "--json" does not apply here' "maintain --json"
run_cmd "$PARTMIG" maintain -d migrations
assert_contains "$ERR" 'option "-d" does not apply here' "maintain -d DIR: the option named, not its value"
run_cmd "$PARTMIG" maintain --dir=migrations
assert_contains "$ERR" 'option "--dir" does not apply here' "maintain --dir=DIR"
assert_done
