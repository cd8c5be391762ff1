#!/usr/bin/env bash
# finalize_two_connections.sh: finalize's verification reads the old table
# on its own connection and the partitioned one on a second connection
# ("partmig verify") in the same snapshot, as apply --jobs 2's own
# verification does.  It still catches a changed row and a missing row
# (exit 1, nothing dropped) and passes on equal tables, also with the text
# fingerprint (a json column) under a client time zone other than
# partmig's UTC.  --jobs 1 reads both on one connection; so does finalize
# when the second connection cannot be opened (connection limit).
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "log_statement = 'all'" "log_line_prefix = '%a|'"
LOG=$PARTMIG_TEST_DIR/server.log
# the row text the json fingerprint hashes holds timestamps: partmig's
# sessions use UTC whatever the client's zone
export PGTZ=America/New_York
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE migrator LOGIN;
CREATE DATABASE shop OWNER migrator;
SQL
export PGUSER=migrator PGDATABASE=shop
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.events (id bigserial PRIMARY KEY, kind text NOT NULL, doc json, created_at timestamptz NOT NULL);
INSERT INTO public.events (kind, doc, created_at)
SELECT 'k' || g % 5, json_build_object('g', g), timestamptz '2025-01-01 UTC' + g * interval '1 hour'
FROM generate_series(1, 5000) g;
CREATE TABLE public.orders (id bigserial PRIMARY KEY, amount numeric NOT NULL, created_at timestamptz NOT NULL);
-- ~1,300 blocks: read in chunks of its blocks, over both connections
CREATE TABLE public.notes (id bigserial PRIMARY KEY, body text NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO public.notes (body, created_at)
SELECT repeat(md5(g::text), 4), timestamptz '2025-01-01 UTC' + g * interval '5 minutes' FROM generate_series(1, 60000) g;
INSERT INTO public.orders (amount, created_at)
SELECT g, timestamptz '2025-01-01 UTC' + g * interval '2 hours' FROM generate_series(1, 3000) g;
SQL
POL=$PARTMIG_TEST_DIR/policies
mkdir -p "$POL"
for t in events orders notes; do
    echo "partition \"$t\" { column = \"created_at\", interval = \"1 month\", premake = 1, primary_key = { \"id\", \"created_at\" } }" >"$POL/$t.lua"
done
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --jobs 2
assert_eq "$RC" 0 "apply ($ERR)"
# apply's own verification (counts, the keys its change log holds left
# out) read the new table on a second connection too
assert_contains "$(grep '^partmig verify|' "$LOG")" "NOT EXISTS (SELECT 1 FROM \"partmig\".\"conv_" \
    "apply verifies over its job connections"
# as a superuser, writes that go around partmig's triggers
# a change partmig's triggers do not see: in a session where they are
# quiet (partmig's own, before the swap; its triggers fire ALWAYS)
damage() { psql -X -q -v ON_ERROR_STOP=1 -U postgres -c "SELECT set_config('partmig.conv_' || id || '_quiet', 'on', false) FROM partmig.conversions; $1" >/dev/null; }
kept() { psql_q "SELECT to_regclass('public.$1_partmig_old') IS NOT NULL"; }
verify_lines() { grep -c '^partmig verify|' "$LOG"; }

run_cmd "$PARTMIG" finalize --help
assert_contains "$OUT" "--jobs N" "finalize --help lists --jobs"

# a changed row in the old table, the text fingerprint (json)
damage "UPDATE public.events_partmig_old SET doc = '{\"g\": 0}' WHERE id = 1234"
run_cmd "$PARTMIG" finalize public.events
assert_eq "$RC" 1 "finalize refuses a changed row ($ERR)"
assert_contains "$ERR" "contents differ" "the message says the contents differ"
assert_contains "$ERR" "events_p2025_02" "the message names the partition"
assert_eq "$(kept events)" t "old table kept after a changed row"
assert_eq "$(psql_q "SELECT state FROM partmig.conversions WHERE table_name = 'events'")" swapped "still swapped"
# the second connection works in the snapshot the first one exported
assert_contains "$(grep '^partmig verify|' "$LOG")" "SET TRANSACTION SNAPSHOT" "the second connection imports the snapshot"
damage "UPDATE public.events_partmig_old o SET doc = n.doc FROM public.events n WHERE o.id = 1234 AND n.id = 1234"

# a row missing from the partitioned table
damage "DELETE FROM public.events WHERE id = 77"
run_cmd "$PARTMIG" finalize public.events
assert_eq "$RC" 1 "finalize refuses a missing row ($ERR)"
assert_contains "$ERR" "5000 rows in \"public\".\"events_partmig_old\", 4999 in \"public\".\"events\"" "the counts"
assert_contains "$ERR" "events_p2025_01: " "the message names the partition"
assert_eq "$(kept events)" t "old table kept after a missing row"
damage "INSERT INTO public.events SELECT * FROM public.events_partmig_old WHERE id = 77"

# equal tables: verified on two connections, dropped
before=$(verify_lines)
run_cmd "$PARTMIG" finalize public.events
assert_eq "$RC" 0 "finalize passes on equal tables ($ERR)"
assert_contains "$ERR" "verified 4999 rows in both tables" "all rows verified (the row put back is in the undo log, sealed by the first run)"
assert_not_contains "$ERR" "one connection" "no fallback"
assert_eq "$(kept events)" f "old table dropped"
[ "$(verify_lines)" -gt "$before" ] && pass || fail "the passing run used the second connection"

# a big old table, read in chunks of its blocks: a changed row and a
# missing row in its middle and at its end
damage "UPDATE public.notes_partmig_old SET body = 'x' WHERE id = 30000"
from=$(wc -l <"$LOG")
run_cmd "$PARTMIG" finalize public.notes
assert_eq "$RC" 1 "chunks: finalize refuses a changed row ($ERR)"
assert_contains "$ERR" "public.notes_p2025_04: 8640 rows each, but their contents differ" "chunks: the partition named"
chunks=$(grep -c 'FROM "public"."notes_partmig_old" o WHERE o.ctid >= \$1::tid AND o.ctid < \$2::tid' "$LOG")
[ "$chunks" -ge 2 ] && pass || fail "chunks: the old table read by ctid ranges ($chunks statements)"
# both connections take the statements in turn (six of them, the first
# one's taken by this connection at once: the second takes some)
assert_contains "$(tail -n +"$((from + 1))" "$LOG" | grep '^partmig verify|')" "notes" \
    "chunks: the second connection reads a share"
damage "UPDATE public.notes_partmig_old SET body = repeat(md5(id::text), 4) WHERE id = 30000"
damage "DELETE FROM public.notes_partmig_old WHERE id = 60000"
run_cmd "$PARTMIG" finalize public.notes
assert_eq "$RC" 1 "chunks: finalize refuses a missing row ($ERR)"
assert_contains "$ERR" "59999 rows in \"public\".\"notes_partmig_old\", 60000 in \"public\".\"notes\"" "chunks: the counts"
damage "INSERT INTO public.notes_partmig_old SELECT * FROM public.notes WHERE id = 60000"
run_cmd "$PARTMIG" finalize public.notes
assert_eq "$RC" 0 "chunks: finalize passes on equal tables ($ERR)"
assert_contains "$ERR" "verified 60000 rows in both tables" "chunks: all rows verified"
assert_eq "$(kept notes)" f "chunks: old table dropped"

# --jobs 1: one connection, the same verdicts
damage "UPDATE public.orders_partmig_old SET amount = -1 WHERE id = 100"
before=$(verify_lines)
run_cmd "$PARTMIG" finalize public.orders --jobs 1
assert_eq "$RC" 1 "--jobs 1 refuses a changed row ($ERR)"
assert_contains "$ERR" "contents differ" "--jobs 1: the message says the contents differ"
assert_eq "$(verify_lines)" "$before" "--jobs 1 opens no second connection"
assert_eq "$(kept orders)" t "old table kept"
damage "UPDATE public.orders_partmig_old SET amount = 100 WHERE id = 100"
run_cmd "$PARTMIG" finalize public.orders --jobs 0
assert_eq "$RC" 2 "--jobs 0 is bad usage"

# no second connection allowed: one connection, with a note
psql -X -q -U postgres -c "ALTER ROLE migrator CONNECTION LIMIT 1"
damage "DELETE FROM public.orders WHERE id = 2000"
run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 1 "refused on one connection too ($ERR)"
assert_contains "$ERR" "verifying on one connection: a second one could not be opened" "the fallback is said"
assert_contains "$ERR" "3000 rows in" "the counts on one connection"
assert_eq "$(kept orders)" t "old table kept"
damage "INSERT INTO public.orders SELECT * FROM public.orders_partmig_old WHERE id = 2000"
run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 0 "finalize passes on one connection ($ERR)"
assert_contains "$ERR" "verified 2999 rows in both tables" "all rows verified (the row put back is in the undo log)"
assert_eq "$(kept orders)" f "old table dropped"
assert_done
