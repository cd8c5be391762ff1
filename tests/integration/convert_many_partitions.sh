#!/usr/bin/env bash
# convert_many_partitions.sh: a table converted to 1,100+ daily partitions
# while a writer inserts, moves rows across partitions and deletes: apply
# and finalize succeed (verification is one statement per table, whatever
# the number of partitions) and the table holds exactly what committed.
# Then hash (modulus 6), list with a DEFAULT partition and range x hash
# subpartitions: finalize finds a row changed in the kept old table and
# names the partition it belongs to, and passes once the row is restored.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"

# three years of days, three rows a day
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.events (id bigserial PRIMARY KEY, kind text NOT NULL, payload text,
    created_at timestamptz NOT NULL);
INSERT INTO public.events (kind, payload, created_at)
SELECT 'k' || g % 5, md5(g::text), date_trunc('day', now()) - interval '1100 days' + g * interval '8 hours'
FROM generate_series(0, 3 * 1100 - 1) g;
CREATE TABLE public.expected_events AS SELECT * FROM public.events;
ALTER TABLE public.expected_events ADD PRIMARY KEY (id);
SQL
echo 'partition "events" { column = "created_at", interval = "1 day", premake = 2, primary_key = { "id", "created_at" } }' >"$POL/events.lua"
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"

# the writer: each statement changes events and, in the same statement,
# expected_events (the record of what committed); a few dozen a second
# (the re-copy's own rate is measured elsewhere)
STOP="$PARTMIG_TEST_DIR/stop"
writer_sql() {
    while [ ! -e "$STOP" ]; do
        cat <<'SQL'
WITH n AS (INSERT INTO public.events (kind, payload, created_at)
  SELECT 'k' || (random() * 4)::int, md5(random()::text), now() - random() * interval '1100 days' RETURNING *)
  INSERT INTO public.expected_events SELECT * FROM n;
WITH u AS (UPDATE public.events SET created_at = created_at + interval '35 days', payload = md5(payload)
  WHERE id = (SELECT 1 + (random() * 3300)::int) AND created_at < now() - interval '40 days' RETURNING *)
  UPDATE public.expected_events x SET created_at = u.created_at, payload = u.payload FROM u WHERE x.id = u.id;
WITH d AS (DELETE FROM public.events WHERE id = (SELECT 1 + (random() * 3300)::int) RETURNING id)
  DELETE FROM public.expected_events x USING d WHERE x.id = d.id;
SELECT pg_sleep(0.03);
SQL
    done
}
writer_sql | psql -X -q -v ON_ERROR_STOP=1 -o /dev/null >"$PARTMIG_TEST_DIR/writer.out" 2>&1 &
writer=$!
sleep 1
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --batch-size 2000
assert_eq "$RC" 0 "apply converts events into daily partitions under a writer ($ERR)"
nparts=$(psql_q "SELECT count(*) FROM pg_partition_tree('public.events') WHERE isleaf")
assert_eq "$(( nparts > 1100 ))" 1 "more than 1,100 partitions ($nparts)"
run_cmd "$PARTMIG" finalize public.events
assert_eq "$RC" 0 "finalize verifies and drops the old table with $nparts partitions ($ERR)"
assert_contains "$ERR" "row fingerprints of every partition match" "finalize compared every partition"
assert_eq "$(psql_q "SELECT to_regclass('public.events_partmig_old') IS NULL")" t "old table dropped"
sleep 0.5
touch "$STOP"
wait "$writer"
wrc=$?
cat "$PARTMIG_TEST_DIR/writer.out"
assert_eq "$wrc" 0 "no writer statement failed"
assert_eq "$(fingerprint events)" "$(fingerprint expected_events)" "events holds exactly what the writer committed"

# other layouts: a changed row of the kept table is found in its partition
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.tickets (id bigint PRIMARY KEY, tenant_id int NOT NULL, note text);
INSERT INTO public.tickets SELECT g, g % 97, md5(g::text) FROM generate_series(1, 3000) g;
CREATE TABLE public.regional (id bigint PRIMARY KEY, region text NOT NULL, note text);
INSERT INTO public.regional SELECT g, (ARRAY['eu', 'us', 'apac', 'x,''y)'])[1 + g % 4], md5(g::text) FROM generate_series(1, 2000) g;
CREATE TABLE public.readings (id bigint PRIMARY KEY, sensor_id int NOT NULL, taken_at timestamptz NOT NULL, v float8);
INSERT INTO public.readings SELECT g, g % 13, now() - g * interval '1 hour', g / 7.0 FROM generate_series(1, 4000) g;
SQL
cat >"$POL/layouts.lua" <<'LUA'
partition "tickets" { column = "tenant_id", by = "hash", modulus = 6, primary_key = { "id", "tenant_id" } }
partition "regional" { column = "region", by = "list", default_partition = true,
  values = { eu = { "eu" }, us = { "us", "x,'y)" } }, primary_key = { "id", "region" } }
partition "readings" { column = "taken_at", interval = "1 month", premake = 1,
  subpartition = { by = "hash", column = "sensor_id", modulus = 4 }, primary_key = { "id", "taken_at", "sensor_id" } }
LUA
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile the layouts ($ERR)"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply converts hash, list and subpartitioned tables ($ERR)"
for t in tickets:1234 regional:1003 regional:1002 readings:2500; do
    table=${t%%:*} id=${t##*:}
    part=$(psql_q "SELECT tableoid::regclass FROM public.$table WHERE id = $id")
    col=$([ "$table" = readings ] && echo v || echo note)
    val=$([ "$table" = readings ] && echo "v + 1" || echo "'tampered'")
    psql_q "UPDATE public.${table}_partmig_old SET $col = $val WHERE id = $id" >/dev/null
    run_cmd "$PARTMIG" finalize "public.$table"
    assert_eq "$RC" 1 "$table: finalize refuses a changed row ($ERR)"
    assert_contains "$ERR" "$part: " "$table: the message names the row's partition $part"
    assert_contains "$ERR" "contents differ" "$table: the message says the contents differ"
    assert_contains "$ERR" "(0 fit no partition)" "$table: every row found its partition"
    psql_q "UPDATE public.${table}_partmig_old o SET $col = n.$col FROM public.$table n WHERE o.id = $id AND n.id = $id" >/dev/null
done
for table in tickets regional readings; do
    run_cmd "$PARTMIG" finalize "public.$table"
    assert_eq "$RC" 0 "$table: finalize ($ERR)"
done
assert_done
