#!/usr/bin/env bash
# convert_abort.sh: a conversion stuck in any state -- preflight,
# shadow_created, mirroring, backfilling, verified, swapped; copy and attach
# -- is shown by `partmig status` (text and --json) with what to run next,
# and `partmig rollback --to 0` takes it back to the plain table while a
# writer runs: the table equals what committed, row for row, and no object
# the conversion made is left (shadow, partitions, capture trigger and
# functions, change log, guard trigger, reverse mirror, staged names, CHECK
# constraint, key index).  States are reached by kill -9 of apply, or by a
# fault injected at the transition out of the state (a trigger on
# partmig.conversions raising when the next state is written, or an event
# trigger refusing the clean-up after the swap).
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
T="$PARTMIG_TEST_DIR"
W="$PARTMIG_TOOLS/convert_writer"
[ -x "$W" ] || W="$PARTMIG_TOOLS/tools/convert_writer"
mkdir -p "$T/pol_copy" "$T/pol_attach"
for t in orders invoices; do
    psql_q "CREATE TABLE public.$t (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, amount integer, note text)"
    psql_q "CREATE INDEX ON public.$t (amount)"
    psql_q "INSERT INTO public.$t (created_at, amount, note)
              SELECT now() - interval '400 days' + (g * interval '1 day') * 390 / 20000, g % 97, 'n' || g
              FROM generate_series(1, 20000) g"
    psql_q "CREATE TABLE public.expected_$t AS SELECT * FROM public.$t"
done
cat >"$T/pol_copy/orders.lua" <<'LUA'
partition "orders" { column = "created_at", interval = "1 month", premake = 1, primary_key = { "id", "created_at" } }
LUA
cat >"$T/pol_attach/invoices.lua" <<'LUA'
partition "invoices" { column = "created_at", interval = "1 month", premake = 1, primary_key = { "id", "created_at" },
  existing = { method = "attach" } }
LUA
"$PARTMIG" compile "$T/pol_copy" -o "$T/mig_copy" >/dev/null || fail "compile copy"
"$PARTMIG" compile "$T/pol_attach" -o "$T/mig_attach" >/dev/null || fail "compile attach"

fp() { psql_q "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t.id)), '') FROM public.$1 t"; }
rels() { psql_q "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace"; }
left_over() {
    psql_q "SELECT concat_ws(' ',
      (SELECT string_agg('class:' || relname, ' ') FROM pg_class WHERE relnamespace = 'partmig'::regnamespace AND relname LIKE 'conv\_%'),
      (SELECT string_agg('class:' || relname, ' ') FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname LIKE '%partmig%'),
      (SELECT string_agg('proc:' || proname, ' ') FROM pg_proc WHERE pronamespace = 'partmig'::regnamespace AND proname LIKE 'conv\_%'),
      (SELECT string_agg('trigger:' || tgname, ' ') FROM pg_trigger WHERE tgrelid = 'public.$1'::regclass AND NOT tgisinternal),
      (SELECT string_agg('constraint:' || conname, ' ') FROM pg_constraint WHERE conrelid = 'public.$1'::regclass AND conname LIKE '%partmig%'),
      (SELECT string_agg('index:' || relname, ' ') FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'public.$1'::regclass AND c.relname LIKE '%partmig%'))"
}
WPID=
start_writer() {
    rm -f "$T/stop"
    "$W" "$1" created_at "$T/stop" "$2" >"$T/writer.out" 2>&1 &
    WPID=$!
    sleep 0.4
}
stop_writer() {
    touch "$T/stop"
    wait "$WPID"
    assert_eq "$?" 0 "$1: the writer never failed ($(cat "$T/writer.out"))"
}
fault_at() {
    psql_q "TRUNCATE public.pm_fault_at; INSERT INTO public.pm_fault_at VALUES ('$1')"
}

# take_back CASE TABLE MIGDIR STATE: the conversion is stuck in STATE; status
# shows it, rollback takes it back while the writer runs
take_back() {
    local c=$1 t=$2 mig=$3 state=$4
    assert_eq "$(psql_q "SELECT state FROM partmig.conversions WHERE table_name = '$t' AND state NOT IN ('rolled_back', 'finalized')")" \
        "$state" "$c: the conversion is stuck in $state"
    run_cmd "$PARTMIG" status -d "$mig"
    assert_eq "$RC" 0 "$c: status ($ERR)"
    echo "$OUT" | sed -n '/conversions not finished/,/next:/p'
    assert_contains "$OUT" "public.$t: " "$c: status lists the conversion"
    assert_contains "$OUT" "state $state" "$c: status shows its state"
    assert_contains "$OUT" "partmig rollback --to 0" "$c: status says how to take it back"
    run_cmd "$PARTMIG" status -d "$mig" --json
    assert_eq "$(echo "$OUT" | python3 -c 'import json,sys; c=json.load(sys.stdin)["conversions"]; print(len(c), c[0]["state"], c[0]["rollback_to"], "next" in c[0], "rows_copied" in c[0], "age_seconds" in c[0])')" \
        "1 $state 0 True True True" "$c: status --json shows it"
    run_cmd "$PARTMIG" rollback --to 0 -d "$mig"
    assert_eq "$RC" 0 "$c: rollback --to 0 ($ERR)"
    assert_not_contains "$OUT" "nothing to roll back" "$c: rollback reaches the conversion"
    sleep 0.3
    stop_writer "$c"
    assert_eq "$(fp "$t")" "$(fp "expected_$t")" "$c: the table equals what committed, row for row"
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.$t'::regclass")" r "$c: a plain table again"
    assert_eq "$(left_over "$t")" "" "$c: no object of the conversion is left"
    assert_eq "$(rels)" "$BASE" "$c: the schema holds the relations it held before"
    assert_eq "$(psql_q "SELECT count(*) FROM partmig.conversions WHERE state NOT IN ('rolled_back', 'finalized')")" 0 "$c: no conversion open"
    run_cmd "$PARTMIG" status -d "$mig" --json
    assert_eq "$(echo "$OUT" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["conversions"]))')" 0 "$c: status lists none"
}

# ---- backfilling, by kill -9 of apply
start_writer orders 11
BASE=$(rels)
"$PARTMIG" apply -d "$T/mig_copy" --batch-size 500 --sleep 150 >"$T/a.out" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    [ "$(psql_q "SELECT count(*) FROM partmig.batches" 2>/dev/null || echo 0)" -ge 3 ] && break
    sleep 0.1
done
kill -9 "$pid"
wait "$pid" 2>/dev/null
take_back "copy/backfilling (kill -9)" orders "$T/mig_copy" backfilling

# ---- the fault: raise when the state after the one under test is written
psql_q "CREATE TABLE public.pm_fault_at (state text)"
psql_q "CREATE FUNCTION public.pm_fault() RETURNS trigger LANGUAGE plpgsql AS \$\$
  BEGIN
    IF NEW.state IN (SELECT state FROM public.pm_fault_at) AND NEW.state IS DISTINCT FROM OLD.state THEN
      RAISE EXCEPTION 'injected fault before state %', NEW.state;
    END IF;
    RETURN NEW;
  END \$\$"
psql_q "CREATE TRIGGER pm_fault BEFORE UPDATE ON partmig.conversions FOR EACH ROW EXECUTE FUNCTION public.pm_fault()"
BASE=$(rels)

# copy: stuck in STATE when NEXT is refused
for pair in preflight:shadow_created shadow_created:mirroring mirroring:backfilling backfilling:verified verified:swapped; do
    state=${pair%%:*}
    next=${pair#*:}
    fault_at "$next"
    start_writer orders $RANDOM
    run_cmd "$PARTMIG" apply -d "$T/mig_copy" --batch-size 2000
    assert_eq "$RC" 1 "copy/$state: apply fails at the injected fault"
    assert_contains "$ERR" "injected fault before state $next" "copy/$state: the injected fault"
    fault_at none
    take_back "copy/$state" orders "$T/mig_copy" "$state"
done

# copy, swapped: the clean-up after the swap is refused (capture trigger
# function and change log still there), the step failed
psql_q "CREATE FUNCTION public.pm_no_drop() RETURNS event_trigger LANGUAGE plpgsql AS \$\$
  BEGIN RAISE EXCEPTION 'injected fault: no DROP FUNCTION'; END \$\$"
psql_q "CREATE EVENT TRIGGER pm_no_drop ON ddl_command_start WHEN TAG IN ('DROP FUNCTION') EXECUTE FUNCTION public.pm_no_drop()"
start_writer orders 7
run_cmd "$PARTMIG" apply -d "$T/mig_copy" --batch-size 2000
assert_eq "$RC" 1 "copy/swapped: apply fails after the swap"
assert_contains "$ERR" "injected fault: no DROP FUNCTION" "copy/swapped: the injected fault"
psql_q "DROP EVENT TRIGGER pm_no_drop"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" p "copy/swapped: orders was swapped"
take_back "copy/swapped" orders "$T/mig_copy" swapped

# attach: stuck in preflight (CHECK constraint and key index made) and swapped
start_writer invoices 5
BASE=$(rels)
fault_at verified
run_cmd "$PARTMIG" apply -d "$T/mig_attach"
assert_eq "$RC" 1 "attach/preflight: apply fails at the injected fault"
fault_at none
assert_contains "$(psql_q "SELECT string_agg(conname, ' ') FROM pg_constraint WHERE conrelid = 'public.invoices'::regclass")" partmig_range "attach/preflight: its CHECK constraint is there"
take_back "attach/preflight" invoices "$T/mig_attach" preflight

psql_q "CREATE FUNCTION public.pm_step_fault() RETURNS trigger LANGUAGE plpgsql AS \$\$
  BEGIN
    IF NEW.state = 'done' AND NEW.action = 'ensure_table' THEN RAISE EXCEPTION 'injected fault: step not done'; END IF;
    RETURN NEW;
  END \$\$"
psql_q "CREATE TRIGGER pm_step_fault BEFORE UPDATE ON partmig.steps FOR EACH ROW EXECUTE FUNCTION public.pm_step_fault()"
start_writer invoices 9
run_cmd "$PARTMIG" apply -d "$T/mig_attach"
assert_eq "$RC" 1 "attach/swapped: the step fails after the swap"
psql_q "DROP TRIGGER pm_step_fault ON partmig.steps"
take_back "attach/swapped" invoices "$T/mig_attach" swapped

# after all that, the conversion still goes through
psql_q "DROP TRIGGER pm_fault ON partmig.conversions"
start_writer orders 13
run_cmd "$PARTMIG" apply -d "$T/mig_copy"
assert_eq "$RC" 0 "apply after the rollbacks ($ERR)"
stop_writer "final apply"
assert_eq "$(fp orders)" "$(fp expected_orders)" "converted after all: every committed row"
assert_done
