#!/usr/bin/env bash
# rollback_unlogged.sh: between swap and finalize, after the seal (every
# change then logged by partmig's triggers, none found by xmin), rows
# change where no trigger sees them:
#   - a partition detached, written (updates, deletes) and attached again
#     (a detached partition loses its cloned triggers);
#   - a table attached with rows of its own, for a month not covered yet;
#   - the table's triggers disabled (DISABLE TRIGGER USER), rows updated,
#     the triggers enabled again.
# finalize refuses (the old table is no complete copy; nothing dropped).
# rollback compares the two tables row by row, logs every key whose row
# differs, and carries the new table back as it is: none of those changes
# undone silently, none refused for good.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
T=$PARTMIG_TEST_DIR
fingerprint() { psql_q "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM public.$1 t"; }

mkdir -p "$T/pol"
cat >"$T/pol/orders.lua" <<'LUA'
partition "orders" { schema = "public", column = "created_at", interval = "1 month", premake = 2,
  primary_key = { "id", "created_at" }, existing = { method = "copy" } }
LUA
run_cmd "$PARTMIG" compile "$T/pol" -o "$T/mig"
assert_eq "$RC" 0 "compile ($ERR)"

psql_q "CREATE TABLE public.orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, amount numeric NOT NULL, note text);
    INSERT INTO public.orders SELECT g, now() - (g % 300) * interval '1 day' - g * interval '1 second', g, 'row ' || g
        FROM generate_series(1, 20000) g" >/dev/null
run_cmd "$PARTMIG" apply -d "$T/mig" --jobs 2
assert_eq "$RC" 0 "apply ($ERR)"
# the seal: maintain seals an undo log whose horizon is 2^30 transactions
# old (moved back here)
psql_q "UPDATE partmig.conversions SET undo_horizon = txid_snapshot_xmax(txid_current_snapshot()) - (1::bigint << 30) - 10 WHERE state = 'swapped'" >/dev/null
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain seals the undo log ($ERR)"
assert_eq "$(psql_q "SELECT undo_horizon IS NULL FROM partmig.conversions WHERE state = 'swapped'")" t "sealed"

# a partition detached, written and attached again
part=$(psql_q "SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'public.orders'::regclass ORDER BY c.relname OFFSET 4 LIMIT 1")
assert_eq "$(psql_q "SELECT count(*) > 1000 FROM $part")" t "a partition with rows: $part"
bound=$(psql_q "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = '$part'::regclass")
psql_q "ALTER TABLE public.orders DETACH PARTITION $part" >/dev/null
assert_eq "$(psql_q "SELECT count(*) FROM pg_trigger WHERE tgrelid = '$part'::regclass AND tgname LIKE 'partmig%'")" 0 \
    "a detached partition has none of partmig's triggers"
psql_q "UPDATE $part SET note = 'written while detached' WHERE id % 5 = 0; DELETE FROM $part WHERE id % 11 = 0" >/dev/null
psql_q "ALTER TABLE public.orders ATTACH PARTITION $part $bound" >/dev/null
assert_eq "$?" 0 "attached again ($bound)"
# a table attached with rows
psql_q "CREATE TABLE public.orders_extra (LIKE public.orders INCLUDING DEFAULTS);
    INSERT INTO public.orders_extra SELECT 900000 + g, '2031-01-01 UTC'::timestamptz + g * interval '1 hour', g, 'attached'
        FROM generate_series(1, 50) g;
    ALTER TABLE public.orders ATTACH PARTITION public.orders_extra FOR VALUES FROM ('2031-01-01 UTC') TO ('2031-02-01 UTC')" >/dev/null
assert_eq "$?" 0 "a table attached with rows"
# the triggers disabled meanwhile
psql_q "ALTER TABLE public.orders DISABLE TRIGGER USER;
    UPDATE public.orders SET amount = amount + 7 WHERE id % 13 = 0;
    ALTER TABLE public.orders ENABLE TRIGGER USER" >/dev/null
assert_eq "$?" 0 "rows updated with the triggers disabled"
psql_q "CREATE TABLE public.expected AS SELECT * FROM public.orders" >/dev/null
changed=$(psql_q "SELECT count(*) FROM public.expected e JOIN public.orders_partmig_old o USING (id) WHERE e IS DISTINCT FROM o")
assert_eq "$([ "$changed" -gt 1000 ] && echo many)" many "the old table differs from the new one in many rows unlogged ($changed)"

run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 1 "finalize refuses: the old table is no complete copy"
assert_eq "$(psql_q "SELECT to_regclass('public.orders_partmig_old') IS NOT NULL")" t "nothing dropped"
run_cmd "$PARTMIG" rollback --to 0 -d "$T/mig"
assert_eq "$RC" 0 "rollback ($ERR)"
assert_contains "$ERR" "changed unseen by partmig's triggers" "rollback logs the keys whose rows differ"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" r "a plain table again"
assert_eq "$(fingerprint orders)" "$(fingerprint expected)" "every row as the new table held it: none of the unlogged changes undone"
assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname ~ '^conv_[0-9]+_'")" 0 "no partmig table left"
assert_done
