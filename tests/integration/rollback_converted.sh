#!/usr/bin/env bash
# rollback_converted.sh: `rollback --to 0` takes a converted table back
# whole when the policy also has partitions known at compile time (hash,
# list, range with start) and a later version added an index.  Those steps'
# own undo would refuse to drop partitions that hold the converted rows; they
# go with the conversion's undo, which carries back the rows written since
# the swap.  Afterwards the table is plain, equal to what committed, and
# apply converts it again, saying (as plan does) that the versions were
# rolled back, and when.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
T=$PARTMIG_TEST_DIR
for kind in hash list start; do
    psql_q "DROP TABLE IF EXISTS public.h, public.h_partmig_old CASCADE; DROP SCHEMA IF EXISTS partmig CASCADE" >/dev/null 2>&1
    psql_q "CREATE TABLE public.h (id bigserial PRIMARY KEY, k bigint NOT NULL, r text NOT NULL);
            INSERT INTO public.h (k, r) SELECT g * 10, (ARRAY['DE','US'])[1 + g % 2] FROM generate_series(1, 2000) g" >/dev/null
    rm -rf "$T/pol" "$T/mig"
    mkdir -p "$T/pol"
    case $kind in
    hash) pol='partition "h" { by = "hash", column = "k", modulus = 4, primary_key = { "id", "k" }' ;;
    list) pol='partition "h" { by = "list", column = "r", values = { de = { "DE" }, us = { "US" } }, primary_key = { "id", "r" }' ;;
    start) pol='partition "h" { column = "k", interval = 5000, start = 0, naming = "{table}_from_{N}", primary_key = { "id", "k" }' ;;
    esac
    echo "$pol }" >"$T/pol/h.lua"
    "$PARTMIG" compile "$T/pol" -o "$T/mig" >/dev/null
    echo "$pol, indexes = { { columns = { \"r\" } } } }" >"$T/pol/h.lua"
    "$PARTMIG" compile "$T/pol" -o "$T/mig" >/dev/null
    run_cmd "$PARTMIG" apply -d "$T/mig"
    assert_eq "$RC" 0 "$kind: apply converts and adds the index ($ERR)"
    psql_q "INSERT INTO public.h (k, r) VALUES (30000, 'DE'); DELETE FROM public.h WHERE id = 5; UPDATE public.h SET r = 'US' WHERE id = 6" >/dev/null
    want=$(psql_q "SELECT md5(string_agg(h::text, ',' ORDER BY id)) FROM public.h")
    run_cmd "$PARTMIG" rollback --to 0 -d "$T/mig"
    assert_eq "$RC" 0 "$kind: rollback --to 0 ($ERR)"
    assert_contains "$OUT" "goes with the conversion's undo of public.h" "$kind: the partition steps go with the conversion's undo"
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.h'::regclass")" r "$kind: the table is plain again"
    assert_eq "$(psql_q "SELECT md5(string_agg(h::text, ',' ORDER BY id)) FROM public.h")" "$want" "$kind: rows equal what committed, writes after the swap included"
    assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname LIKE 'h\_%' AND relkind IN ('r', 'p')")" 0 "$kind: no partition or copy left"
    assert_eq "$(psql_q "SELECT count(*) FROM partmig.policies")" 0 "$kind: the policy's registration is undone too"
    run_cmd "$PARTMIG" maintain
    assert_eq "$RC" 0 "$kind: maintain has nothing to fail on after the rollback ($ERR)"
    # the versions are pending again: plan and apply say they were rolled back, and when
    WHEN=$(psql_q "SELECT to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS') || CASE WHEN to_char(finished_at, 'TZH:TZM') = '+00:00' THEN ' UTC' ELSE ' ' || to_char(finished_at, 'TZH') END FROM partmig.migrations WHERE version = 1")
    run_cmd "$PARTMIG" plan -d "$T/mig"
    assert_eq "$RC" 0 "$kind: plan after the rollback ($ERR)"
    assert_contains "$ERR" "partmig: 0001_" "$kind: plan names the file"
    assert_contains "$ERR" ": version 0001 was rolled back on $WHEN and would be applied again" "$kind: plan says 0001 was rolled back"
    assert_contains "$ERR" ": version 0002 was rolled back on " "$kind: plan says 0002 was rolled back"
    run_cmd "$PARTMIG" apply -d "$T/mig"
    assert_eq "$RC" 0 "$kind: apply converts again ($ERR)"
    assert_contains "$ERR" ": version 0001 was rolled back on $WHEN and is being applied again" "$kind: apply says so"
    assert_eq "$(printf '%s\n' "$ERR" | grep -c 'was rolled back on')" 2 "$kind: one line per version"
    assert_eq "$(psql_q "SELECT md5(string_agg(h::text, ',' ORDER BY id)) FROM public.h")" "$want" "$kind: same rows after the second conversion"
done
assert_done
