#!/usr/bin/env bash
# rollback_undo_log.sh: the rollback point between swap and finalize is the
# old table as it was at the swap plus the undo log (the keys deleted or
# moved since; rows inserted or updated in place are found by their xmin,
# at or after the horizon recorded at the swap).  Writes after the swap --
# in place, moving rows across partitions, deletes, inserts, thousands of
# keys (several re-copy rounds), a transaction that got its id before the
# swap and wrote after it, rows frozen by VACUUM since, and a writer still
# running through the rollback -- are carried back by `rollback`, row for
# row; finalize compares the tables on every key not changed since, so a
# row of the old table changed or lost behind partmig's back stops it
# (nothing dropped), and once equal it drops the old table and the log.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
W="$PARTMIG_TOOLS/tools/convert_writer"
[ -x "$W" ] || W="$PARTMIG_TOOLS/convert_writer"
T=$PARTMIG_TEST_DIR

orders_copy_policy "$T"

for db in r f d; do
    psql_q "CREATE DATABASE $db" >/dev/null
    PGDATABASE=$db psql_q "CREATE TABLE public.orders (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL,
            amount numeric NOT NULL, note text);
        INSERT INTO public.orders (created_at, amount, note)
            SELECT now() - (g % 600) * interval '1 day' - g * interval '1 second', g, 'row ' || g FROM generate_series(1, 40000) g;
        CREATE TABLE public.expected_orders AS SELECT * FROM public.orders;
        ALTER TABLE public.expected_orders ADD PRIMARY KEY (id)" >/dev/null
    early=
    if [ "$db" = r ]; then
        # a transaction that takes its id before the swap (writing another
        # table) and writes the new table after it: older than the swap's
        # own transaction, which lists it as running
        early_transaction "$db" "$T/early.out" "UPDATE public.orders SET note = 'xid taken before the swap' WHERE id = 3;"
        early=$EARLY_PID
    fi
    PGDATABASE=$db run_cmd "$PARTMIG" apply -d "$T/mig" --jobs 2
    assert_eq "$RC" 0 "apply converts orders in database $db ($ERR)"
    if [ -n "$early" ]; then
        wait "$early"
        assert_eq "$?" 0 "the early transaction wrote the new table ($(cat "$T/early.out"))"
        assert_eq "$(PGDATABASE=$db psql_q "SELECT (SELECT xmin FROM public.orders WHERE id = 3)::text::bigint < (SELECT xmin FROM pg_trigger WHERE tgname = 'partmig_no_truncate' AND tgrelid = 'public.orders'::regclass)::text::bigint")" t \
            "its write is older than the swap's own transaction (which made partmig_no_truncate)"
    fi
    assert_eq "$(PGDATABASE=$db psql_q "SELECT count(*) FROM partmig.conv_1_undo")" 0 "database $db: nothing written since the swap, nothing in the undo log"
    # writes after the swap, each to the table and to the record of what committed
    PGDATABASE=$db psql_q "
        UPDATE public.orders SET amount = amount + 1 WHERE id % 7 = 0;
        UPDATE public.orders SET created_at = created_at + interval '40 days' WHERE id % 11 = 0 AND created_at < now() - interval '60 days';
        DELETE FROM public.orders WHERE id % 13 = 0;
        UPDATE public.orders SET note = NULL WHERE id % 17 = 0;
        DELETE FROM public.orders WHERE id % 19 = 0 AND id % 7 = 0;
        DELETE FROM public.expected_orders; INSERT INTO public.expected_orders SELECT * FROM public.orders;
        WITH n AS (INSERT INTO public.orders (created_at, amount, note)
                   SELECT now() - g * interval '3 hours', g, 'after the swap' FROM generate_series(1, 2500) g RETURNING *)
        INSERT INTO public.expected_orders SELECT * FROM n;" >/dev/null
    logged=$(PGDATABASE=$db psql_q "SELECT count(DISTINCT id) FROM partmig.conv_1_undo")
    assert_eq "$([ "$logged" -gt 3000 ] && echo many)" many "database $db: the undo log names the keys deleted or moved since the swap ($logged)"
    assert_eq "$(PGDATABASE=$db psql_q "SELECT count(*) FROM partmig.conv_1_undo u WHERE u.id % 7 = 0 AND u.id % 11 <> 0 AND u.id % 13 <> 0 AND u.id % 19 <> 0")" 0 \
        "database $db: an update in place is not logged"
    assert_eq "$(PGDATABASE=$db psql_q "SELECT count(*) FROM partmig.conv_1_undo u JOIN public.orders n USING (id) WHERE n.note = 'after the swap'")" 0 \
        "database $db: an insert is not logged"
    [ "$db" = r ] && PGDATABASE=$db psql_q "VACUUM (FREEZE) public.orders" >/dev/null
    assert_eq "$(PGDATABASE=$db psql_q "SELECT count(*) FROM public.orders_partmig_old o FULL JOIN public.orders n USING (id)
            WHERE (o.*) IS DISTINCT FROM (n.*) AND NOT EXISTS (SELECT 1 FROM partmig.conv_1_undo u WHERE u.id = coalesce(o.id, n.id))
              AND NOT EXISTS (SELECT 1 FROM public.orders n2 WHERE n2.id = coalesce(o.id, n.id)
                  AND $(written_since_swap 1 n2))")" \
        0 "database $db: the old table differs from the new one only on logged keys and rows written since the horizon"
done

# status names the undo log of a swapped conversion
export PGDATABASE=r
run_cmd "$PARTMIG" status -d "$T/mig"
assert_contains "$OUT$ERR" "deleted or moved since the swap in its undo log" "status shows the undo log"
assert_eq "$("$PARTMIG" status -d "$T/mig" --json | python3 -c 'import json,sys; print([type(c["undo_log_rows"]).__name__ for c in json.load(sys.stdin)["conversions"]])')" "['int']" "status --json: undo_log_rows"

# rollback, a writer running through it: every row as committed
STOP="$T/stop"
"$W" orders created_at "$STOP" 3 >"$T/writer.out" 2>&1 &
wpid=$!
sleep 1
run_cmd "$PARTMIG" rollback --to 0 -d "$T/mig"
assert_eq "$RC" 0 "rollback with a writer running ($ERR)"
assert_contains "$ERR" "inserted or updated in place since the swap" "rollback logs the rows written since the swap"
sealed=$(echo "$ERR" | sed -n 's/.*logged \([0-9]*\) row(s) inserted.*/\1/p')
assert_eq "$([ "${sealed:-0}" -gt 5000 ] && [ "${sealed:-0}" -lt 30000 ] && echo some)" some "only those: not the 40,000 copied rows, though a transaction older than the copy was open at the swap ($sealed)"
assert_contains "$ERR" "written since the swap back into" "rollback says what it carried back"
assert_eq "$(psql_q "SELECT note FROM public.orders WHERE id = 3")" "xid taken before the swap" "the write of the transaction older than the swap is carried back"
sleep 1
touch "$STOP"
wait "$wpid"
assert_eq "$?" 0 "the writer's statements all succeeded ($(tail -1 "$T/writer.out"))"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" r "orders is a plain table again"
assert_eq "$(fingerprint orders)" "$(fingerprint expected_orders)" "orders after rollback holds every committed row, those written after the swap and during the rollback included"
assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname LIKE '%partmig%' OR relname ~ '^conv_[0-9]+_'")" 0 "rollback leaves no partmig table, undo log included"
run_cmd "$PARTMIG" apply -d "$T/mig" --jobs 2
assert_eq "$RC" 0 "apply converts it again ($ERR)"
assert_eq "$(fingerprint orders)" "$(fingerprint expected_orders)" "converted again, every row"
# maintain seals an undo log whose horizon is 2^30 transactions old (moved
# back here), well before the 2^31 within which xmin compares
psql_q "UPDATE partmig.conversions SET undo_horizon = txid_snapshot_xmax(txid_current_snapshot()) - (1::bigint << 30) - 10 WHERE state = 'swapped'" >/dev/null
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain ($OUT $ERR)"
assert_contains "$ERR" "in the undo log" "maintain seals the aged undo log"
assert_eq "$(psql_q "SELECT undo_horizon IS NULL FROM partmig.conversions WHERE state = 'swapped'")" t "the horizon is cleared"
assert_eq "$(psql_q "SELECT count(*) = count(g.oid) AND bool_and(g.tgenabled = 'A') FROM pg_partition_tree('public.orders') t LEFT JOIN pg_trigger g ON g.tgrelid = t.relid AND g.tgname = 'partmig_reverse_all' WHERE t.isleaf")" t "every change is logged from then on: partmig_reverse_all enabled on every partition"
before=$(psql_q "SELECT count(*) FROM partmig.conv_2_undo WHERE id = 1")
psql_q "UPDATE public.orders SET note = 'after the seal' WHERE id = 1; UPDATE public.expected_orders SET note = 'after the seal' WHERE id = 1" >/dev/null
assert_eq "$(psql_q "SELECT count(*) - $before FROM partmig.conv_2_undo WHERE id = 1")" 1 "an update in place after the seal is logged"
run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 0 "finalize after the seal ($ERR)"
assert_eq "$(fingerprint orders)" "$(fingerprint expected_orders)" "finalized, every row"

# finalize: compares on every key not changed since the swap
export PGDATABASE=f
id=$(psql_q "SELECT min(o.id) FROM public.orders_partmig_old o WHERE o.id % 7 <> 0 AND o.id % 11 <> 0 AND o.id % 13 <> 0 AND o.id % 17 <> 0 AND o.id % 19 <> 0")
psql_q "UPDATE public.orders_partmig_old SET amount = amount + 1000 WHERE id = $id" >/dev/null
run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 1 "finalize refuses when an unlogged row of the old table differs"
assert_contains "$ERR" "contents differ" "finalize names the difference"
assert_eq "$(psql_q "SELECT to_regclass('public.orders_partmig_old') IS NOT NULL")" t "nothing dropped"
psql_q "UPDATE public.orders_partmig_old SET amount = amount - 1000 WHERE id = $id" >/dev/null
psql_q "CREATE TABLE public.saved AS SELECT * FROM public.orders_partmig_old WHERE id = $id; DELETE FROM public.orders_partmig_old WHERE id = $id" >/dev/null
run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 1 "finalize refuses when an unlogged row is missing from the old table"
psql_q "INSERT INTO public.orders_partmig_old SELECT * FROM public.saved; DROP TABLE public.saved" >/dev/null
run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 0 "finalize passes once the tables agree ($ERR)"
assert_eq "$(psql_q "SELECT to_regclass('public.orders_partmig_old') IS NULL AND to_regclass('partmig.conv_1_undo') IS NULL")" t "finalize dropped the old table and the undo log"
assert_eq "$(fingerprint orders)" "$(fingerprint expected_orders)" "orders intact after finalize"

# a row written since the swap that the old table's key forbids: rollback
# refuses, names it, swaps nothing back; without it, rollback goes through
export PGDATABASE=d
# a horizon ahead of the server's ids (a database restored elsewhere, made
# so here): finalize cannot compare by xmin and refuses
saved=$(psql_q "SELECT undo_horizon FROM partmig.conversions WHERE state = 'swapped'")
psql_q "UPDATE partmig.conversions SET undo_horizon = txid_snapshot_xmax(txid_current_snapshot()) + 1000000 WHERE state = 'swapped'" >/dev/null
run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 1 "finalize refuses a horizon ahead of the server"
assert_contains "$ERR" "ahead of this server's" "finalize says why"
psql_q "UPDATE partmig.conversions SET undo_horizon = $saved WHERE state = 'swapped'" >/dev/null
# past the horizon's window (moved back 2^31 here) finalize cannot tell the
# rows written since from the rest: it refuses; rollback logs every row
psql_q "UPDATE partmig.conversions SET undo_horizon = txid_snapshot_xmax(txid_current_snapshot()) - (1::bigint << 31) WHERE state = 'swapped'" >/dev/null
run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 1 "finalize refuses past the horizon's window"
assert_contains "$ERR" "too many to tell" "finalize says why"
assert_eq "$(psql_q "SELECT to_regclass('public.orders_partmig_old') IS NOT NULL")" t "nothing dropped"
psql_q "INSERT INTO public.orders SELECT id, created_at + interval '1 day', amount, 'same id' FROM public.orders WHERE id = 5" >/dev/null
run_cmd "$PARTMIG" rollback --to 0 -d "$T/mig"
assert_contains "$ERR" "every row" "rollback past the window logs every row"
assert_eq "$RC" 1 "rollback refuses a repeated key"
assert_contains "$ERR" "repeat a key the old table's unique index forbids" "rollback says why"
assert_contains "$ERR" "(id)=(5)" "and which key"
assert_eq "$(psql_q "SELECT relkind::text || ' ' || (SELECT state FROM partmig.conversions) FROM pg_class WHERE oid = 'public.orders'::regclass")" "p swapped" "nothing swapped back"
psql_q "DELETE FROM public.orders WHERE note = 'same id'" >/dev/null
run_cmd "$PARTMIG" rollback --to 0 -d "$T/mig"
assert_eq "$RC" 0 "rollback once the repeated row is gone ($ERR)"
assert_eq "$(fingerprint orders)" "$(fingerprint expected_orders)" "every committed row back in the plain table"
assert_done
