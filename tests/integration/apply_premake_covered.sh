#!/usr/bin/env bash
# apply_premake_covered.sh: premake leaves a range that an existing
# partition of another name covers (as the old table an attach conversion
# made the first partition does): the catalog says so, plan names it, the
# step records it, and the table keeps that partition and its rows.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
# events_old covers next month (UTC), inside the premake window
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.events (id bigint NOT NULL, created_at timestamptz NOT NULL, PRIMARY KEY (id, created_at))
    PARTITION BY RANGE (created_at);
DO $$
DECLARE m timestamptz := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
BEGIN
    EXECUTE format('CREATE TABLE public.events_old PARTITION OF public.events FOR VALUES FROM (%L) TO (%L)',
                   m + interval '1 month', m + interval '2 months');
    INSERT INTO public.events VALUES (1, m + interval '1 month 3 days');
END $$;
SQL
next=$(psql_q "SELECT to_char(now() AT TIME ZONE 'UTC' + interval '1 month', 'YYYY_MM')")
mkdir -p "$PARTMIG_TEST_DIR/pol"
echo 'partition "events" { column = "created_at", interval = "1 month", premake = 1, timezone = "UTC" }' \
    >"$PARTMIG_TEST_DIR/pol/e.lua"
run_cmd "$PARTMIG" compile "$PARTMIG_TEST_DIR/pol" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd "$PARTMIG" plan -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "plan ($ERR)"
assert_contains "$OUT" "events_p$next: already covered by partition events_old" "plan names the covering partition"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply ($ERR)"
parts=$(psql_q "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.events'::regclass")
assert_not_contains "$parts" "events_p$next" "no partition over events_old ($parts)"
assert_contains "$parts" "events_old" "events_old stays"
detail=$(psql_q "SELECT detail->>'mode' FROM partmig.steps WHERE action = 'premake'")
assert_contains "$detail" "covered by existing partitions" "the step records the covered range ($detail)"
assert_eq "$(psql_q "SELECT count(*) FROM public.events_old")" 1 "its row stays where it is"
# a second apply has nothing to do
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "second apply ($ERR)"
assert_contains "$OUT" "nothing to apply" "second apply: nothing to do"
assert_done
