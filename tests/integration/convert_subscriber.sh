#!/usr/bin/env bash
# convert_subscriber.sh: a table filled by logical replication is converted,
# rolled back and converted again while the publisher writes.  The apply
# worker runs with session_replication_role = replica, where triggers fire
# only when ENABLE ALWAYS (or REPLICA): partmig's capture, undo log and
# TRUNCATE guard are ALWAYS.  Otherwise the copy misses what the worker
# applies (verification fails, apply stops), and after the seal (every
# change logged by trigger, none found by xmin any more) rollback and
# finalize refuse on counts when the worker inserted; had it only updated
# in place, rollback would carry back a table without those updates, which
# replication never sends again.
# Checked: the subscriber's table equals the publisher's, row for row,
# after apply, after a rollback past the seal, and after finalize.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "wal_level = logical" "max_replication_slots = 8" "max_wal_senders = 8" "max_logical_replication_workers = 4"
T=$PARTMIG_TEST_DIR
orders_in() { PGDATABASE=$1 fingerprint orders; } # DB: its public.orders, row for row
# the subscriber has applied everything the publisher committed: equal
# within 60 s, or the last fingerprints differ
caught_up() {
    local i
    for i in $(seq 600); do
        [ "$(orders_in pub)" = "$(orders_in sub)" ] && break
        sleep 0.1
    done
    assert_eq "$(orders_in sub)" "$(orders_in pub)" "$1"
}

orders_copy_policy "$T"

table="CREATE TABLE public.orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, amount numeric NOT NULL, note text)"
psql_q "CREATE DATABASE pub" >/dev/null
psql_q "CREATE DATABASE sub" >/dev/null
# REPLICA IDENTITY FULL: the converted table's key is (id, created_at),
# and the subscriber finds a row by its own key's columns
PGDATABASE=pub psql_q "$table;
    ALTER TABLE public.orders REPLICA IDENTITY FULL;
    INSERT INTO public.orders SELECT g, now() - (g % 300) * interval '1 day' - g * interval '1 second', g, 'row ' || g
        FROM generate_series(1, 20000) g;
    CREATE PUBLICATION p FOR TABLE public.orders;
    CREATE SEQUENCE public.new_ids START 100000;
    CREATE TABLE public.ctl (stop boolean NOT NULL);
    INSERT INTO public.ctl VALUES (false)" >/dev/null
assert_eq "$?" 0 "the publisher's table"
# the slot made apart: CREATE SUBSCRIPTION would wait for it on the same server
assert_eq "$(PGDATABASE=pub psql_q "SELECT 1 FROM pg_create_logical_replication_slot('s', 'pgoutput')")" 1 "the slot"
# the publisher's writer: an update in place, a row moved to another
# month, a delete and an insert a transaction, until told to stop
PGDATABASE=pub psql_q "CREATE PROCEDURE public.churn() LANGUAGE plpgsql AS \$\$
DECLARE i integer := 0;
BEGIN
  LOOP
    EXIT WHEN (SELECT stop FROM public.ctl);
    i := i + 1;
    UPDATE public.orders SET amount = amount + 1, note = 'updated ' || i WHERE id = 1 + (random() * 19999)::integer;
    UPDATE public.orders SET created_at = created_at + interval '35 days'
     WHERE id = 1 + (random() * 19999)::integer AND created_at < now() - interval '100 days';
    DELETE FROM public.orders WHERE id = 1 + (random() * 19999)::integer;
    INSERT INTO public.orders VALUES (nextval('public.new_ids'), now() - random() * interval '250 days', i, 'new ' || i);
    COMMIT;
    PERFORM pg_sleep(0.005);
  END LOOP;
END \$\$" >/dev/null
assert_eq "$?" 0 "the writer's procedure"
PGDATABASE=sub psql_q "$table;
    CREATE SUBSCRIPTION s CONNECTION 'host=$PGHOST port=$PGPORT dbname=pub user=postgres' PUBLICATION p
        WITH (create_slot = false, slot_name = 's')" >/dev/null
assert_eq "$?" 0 "the subscription"
caught_up "the subscriber has the publisher's rows"

start_churn() {
    PGDATABASE=pub psql_q "UPDATE public.ctl SET stop = false" >/dev/null
    PGDATABASE=pub psql -X -q -c "CALL public.churn()" >"$T/churn.out" 2>&1 &
    CHURN=$!
    sleep 0.5
}
stop_churn() {
    PGDATABASE=pub psql_q "UPDATE public.ctl SET stop = true" >/dev/null
    wait "$CHURN"
    assert_eq "$?" 0 "the publisher's writer ran ($(cat "$T/churn.out"))"
}

export PGDATABASE=sub
start_churn
run_cmd "$PARTMIG" apply -d "$T/mig" --jobs 2
assert_eq "$RC" 0 "apply converts the subscriber's table while the worker applies ($ERR)"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" p "the subscriber's table is partitioned"
assert_eq "$(psql_q "SELECT string_agg(DISTINCT tgenabled::text, '') FROM pg_trigger WHERE tgname IN ('partmig_reverse', 'partmig_reverse_move')
    AND tgrelid IN (SELECT relid FROM pg_partition_tree('public.orders'))")" A "the undo log's triggers fire ALWAYS on every member"
# the seal: maintain seals an undo log whose horizon is 2^30 transactions
# old (moved back here); from then on only the triggers log changes
psql_q "UPDATE partmig.conversions SET undo_horizon = txid_snapshot_xmax(txid_current_snapshot()) - (1::bigint << 30) - 10 WHERE state = 'swapped'" >/dev/null
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain seals the log ($ERR)"
assert_eq "$(psql_q "SELECT undo_horizon IS NULL FROM partmig.conversions WHERE state = 'swapped'")" t "the log is sealed"
sleep 2 # the worker applies updates in place, logged by partmig_reverse_all alone
assert_eq "$(psql_q "SELECT count(*) > 0 FROM partmig.conv_1_undo")" t "what the worker applied after the seal is logged"
run_cmd "$PARTMIG" rollback --to 0 -d "$T/mig"
assert_eq "$RC" 0 "rollback while the worker applies ($ERR)"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" r "a plain table again"
sleep 1
stop_churn
caught_up "rolled back past the seal: the subscriber's table equals the publisher's, row for row"

start_churn
run_cmd "$PARTMIG" apply -d "$T/mig" --jobs 2
assert_eq "$RC" 0 "apply converts it again ($ERR)"
sleep 1
run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 0 "finalize while the worker applies ($ERR)"
sleep 1
stop_churn
caught_up "finalized: the subscriber's table equals the publisher's, row for row"
assert_eq "$(psql_q "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'partmig%'")" 0 "no partmig trigger left"
PGDATABASE=sub psql_q "DROP SUBSCRIPTION s" >/dev/null
assert_done
