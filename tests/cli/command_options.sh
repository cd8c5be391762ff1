# command_options.sh: the options a command adds to the shared ones
# (status's --check, --format and thresholds, maintain's --drain-default,
# init's -o and --rows-per-partition and its TABLE arguments) are parsed
# with them: both spellings of a value, their errors ("partmig: CMD: ..."),
# and the shared errors; all before any connection (PGHOST points nowhere).
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

run_cmd "$PARTMIG" init
assert_eq "$RC" 2 "init without a table"
assert_eq "$ERR" 'partmig: init: name at least one table
hint: partmig init --db URL public.journal_entries' "init without a table: message"
run_cmd "$PARTMIG" init --rows-per-partition 5 t
assert_eq "$RC" 2 "init --rows-per-partition 5"
assert_eq "$ERR" 'partmig: init: --rows-per-partition "5": expected a number 100..1000000000000
hint: e.g. --rows-per-partition 5000000' "init --rows-per-partition 5: message"
run_cmd "$PARTMIG" init t --bogus
assert_eq "$RC" 2 "init --bogus"
assert_contains "$ERR" 'partmig: init: unknown option "--bogus"' "init --bogus: message"
run_cmd "$PARTMIG" init t -o
assert_contains "$ERR" 'partmig: init: option "-o" needs a value' "init -o without a value"
run_cmd "$PARTMIG" init --to 3 t
assert_contains "$ERR" 'partmig: init: option "--to" does not apply here' "init --to"
# -o after a TABLE, and --output=FILE: an existing file is refused before connecting
existing=$(mktemp)
run_cmd "$PARTMIG" init public.t -o "$existing"
assert_eq "$RC" 2 "init TABLE -o EXISTING"
assert_contains "$ERR" "exists already" "init TABLE -o EXISTING: refused"
run_cmd "$PARTMIG" init --output="$existing" a b
assert_contains "$ERR" "exists already" "init --output=EXISTING a b: refused"
rm -f "$existing"
run_cmd "$PARTMIG" init --rows-per-partition=1000 a b
assert_eq "$RC" 1 "init with valid options: only the connection fails"
assert_contains "$ERR" "connect" "init with valid options: fails connecting"
assert_done
