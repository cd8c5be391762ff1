#!/usr/bin/env bash
# finalize_old_horizon.sh: finalize compares the old and the new table on
# every key not changed since the swap, whatever else runs on the server.
# A session that took a transaction id before the conversion's copy (here:
# one that wrote another table and is still open at the swap; in the field
# an idle-in-transaction session, a long batch, a forgotten prepared
# transaction) is older than every copied row: taken as the horizon ("rows
# newer than the oldest transaction running at the swap"), it made every
# copied row look written since the swap, the seal logged every key, and
# finalize compared none.  Rows the swap's snapshot sees are not logged, so
# finalize notices a row of the old table that differs from the new one
# (nothing written since the swap here).
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
T=$PARTMIG_TEST_DIR

orders_copy_policy "$T"

psql_q "CREATE TABLE public.orders (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL,
        amount numeric NOT NULL, note text);
    INSERT INTO public.orders (created_at, amount, note)
        SELECT now() - (g % 300) * interval '1 day' - g * interval '1 second', g, 'row ' || g
        FROM generate_series(1, 3000) g" >/dev/null

# a transaction with an id taken before apply starts, open until the swap
early_transaction "$PGDATABASE" "$T/early.out" ""
early=$EARLY_PID
run_cmd "$PARTMIG" apply -d "$T/mig" --jobs 2
assert_eq "$RC" 0 "apply converts orders ($ERR)"
wait "$early"
assert_eq "$?" 0 "the early transaction ran through the swap ($(cat "$T/early.out"))"
assert_eq "$(psql_q "SELECT undo_horizon <= (SELECT min(xmin::text::bigint) FROM public.orders) FROM partmig.conversions")" t \
    "the horizon is older than every copied row"

# a row of the old table differs from the new one; nothing was written since the swap
psql_q "UPDATE public.orders_partmig_old SET amount = amount + 1000 WHERE id = 42" >/dev/null
run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 1 "finalize refuses when an unchanged row of the old table differs ($ERR)"
assert_contains "$ERR" "contents differ" "finalize names the difference"
assert_eq "$(psql_q "SELECT to_regclass('public.orders_partmig_old') IS NOT NULL")" t "nothing dropped"
assert_done
