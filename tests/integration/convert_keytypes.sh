#!/usr/bin/env bash
# convert_keytypes.sh: `date` and `timestamp` (without time zone) partition
# keys convert by copy and by attach while a writer inserts, moves rows
# across partitions, updates and deletes; the copied tables also get rows far
# above their range during the copy (the conversion adds their partitions).
# Each table ends holding exactly what was committed, row for row.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "timezone = 'America/New_York'"
W="$PARTMIG_TOOLS/convert_writer"
[ -x "$W" ] || W="$PARTMIG_TOOLS/tools/convert_writer"
# table:type:method
TABLES="cd:date:copy cts:timestamp:copy ad:date:attach ats:timestamp:attach"
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
for spec in $TABLES; do
    IFS=: read -r t ty m <<<"$spec"
    psql_q "CREATE TABLE public.$t (id bigserial PRIMARY KEY, tenant int NOT NULL, posted $ty NOT NULL, note text);
            INSERT INTO public.$t (tenant, posted, note)
              SELECT g % 7, (now() - (g % 300) * interval '1 day' - (g % 24) * interval '1 hour')::$ty, 'n' || g
              FROM generate_series(1, 30000) g;
            ANALYZE public.$t;
            CREATE TABLE public.expected_$t AS SELECT * FROM public.$t"
    cat >"$POL/$t.lua" <<LUA
partition "$t" { column = "posted", interval = "1 month", premake = 2, timezone = "Europe/Berlin",
  primary_key = { "id", "posted" }, existing = { method = "$m", batch_size = 3000 } }
LUA
done
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"

STOP="$PARTMIG_TEST_DIR/stop"
pids=()
i=0
for spec in $TABLES; do
    i=$((i + 1))
    "$W" "${spec%%:*}" posted "$STOP" "$i" >"$PARTMIG_TEST_DIR/writer$i.out" 2>&1 &
    pids+=($!)
done
# rows far above the copied tables' range (each beyond the last by more
# than premake), written during the copy
(
    n=0
    while [ ! -e "$STOP" ] && [ $n -lt 60 ]; do
        n=$((n + 1))
        for tt in cd:date cts:timestamp; do
            t=${tt%%:*}
            psql -X -q -c "WITH n AS (INSERT INTO public.$t (tenant, posted, note) VALUES (9, (now() + interval '400 days' + $n * interval '100 days')::${tt##*:}, 'future') RETURNING *) INSERT INTO public.expected_$t SELECT * FROM n" >/dev/null 2>&1
        done
        sleep 0.05
    done
) &
fpid=$!
sleep 0.5
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --batch-size 3000
assert_eq "$RC" 0 "apply converts date and timestamp keys ($ERR)"
echo "$ERR" | grep -E "added partition|swapped|re-copied"
assert_contains "$ERR" "added partition" "rows written above the range got their partitions"
sleep 0.3
touch "$STOP"
wrc=0
for p in "${pids[@]}"; do wait "$p" || wrc=1; done
wait "$fpid"
cat "$PARTMIG_TEST_DIR"/writer*.out
assert_eq "$wrc" 0 "no writer statement failed"
fp() { psql_q "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM public.$1 t"; }
for spec in $TABLES; do
    IFS=: read -r t ty m <<<"$spec"
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.$t'::regclass")" p "$t ($ty, $m) is partitioned"
    assert_eq "$(fp "$t")" "$(fp "expected_$t")" "$t ($ty, $m) holds exactly what was committed"
    assert_eq "$(psql_q "SELECT count(*) FROM ONLY public.$t")" 0 "no row of $t in the parent"
done
assert_eq "$(psql_q "SELECT count(*) > 0 FROM public.cd WHERE note = 'future'")" t "rows above the range were written during the copy"
assert_eq "$(psql_q "SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = 'public.cd'::regclass AND attname = 'posted'")" date "the key stays a date"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply again is a no-op ($ERR)"
run_cmd "$PARTMIG" rollback --to 0 -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "rollback ($ERR)"
for spec in $TABLES; do
    t=${spec%%:*}
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.$t'::regclass")" r "$t plain again"
    assert_eq "$(fp "$t")" "$(fp "expected_$t")" "$t after rollback holds every committed row"
done
assert_done
