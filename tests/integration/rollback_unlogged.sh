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
# undone silently, none refused for good.  For a key of its own and for one
# that holds the partition column (with a json column: rows compared by
# their text, not the server's hash); a float changed in its last digit,
# with rollback's session printing floats short (extra_float_digits = 0).
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
T=$PARTMIG_TEST_DIR

orders_copy_policy "$T"

for key in "id" "id, created_at"; do
db=$(echo "k_$key" | tr -c 'a-z_\n' '_')
psql_q "CREATE DATABASE $db" >/dev/null
export PGDATABASE=$db
# the second shape has a json column: json has no hash function, so rows
# are compared by their text (md5), pinned against the session's settings
extra=""; [ "$key" = "id, created_at" ] && extra=", doc json NOT NULL DEFAULT '{\"a\": 1}'"
echo "== key ($key)"
psql_q "CREATE TABLE public.orders (id bigint NOT NULL, created_at timestamptz NOT NULL, amount numeric NOT NULL, note text,
        price float8 NOT NULL DEFAULT 0.3$extra, PRIMARY KEY ($key));
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
# (it keeps partmig's triggers, which do nothing for another table)
psql_q "UPDATE $part SET note = 'written while detached' WHERE id % 5 = 0; DELETE FROM $part WHERE id % 11 = 0" >/dev/null
assert_eq "$?" 0 "the detached partition takes writes"
psql_q "ALTER TABLE public.orders ATTACH PARTITION $part $bound" >/dev/null
assert_eq "$?" 0 "attached again ($bound)"
# a table attached with rows
psql_q "CREATE TABLE public.orders_extra (LIKE public.orders INCLUDING DEFAULTS);
    INSERT INTO public.orders_extra SELECT 900000 + g, '2031-01-01 UTC'::timestamptz + g * interval '1 hour', g, 'attached'
        FROM generate_series(1, 50) g;
    ALTER TABLE public.orders ATTACH PARTITION public.orders_extra FOR VALUES FROM ('2031-01-01 UTC') TO ('2031-02-01 UTC')" >/dev/null
assert_eq "$?" 0 "a table attached with rows"
# the triggers disabled meanwhile, on every partition
each_partition() { psql_q "SELECT format('ALTER TABLE %s $1;', relid::regclass) FROM pg_partition_tree('public.orders') WHERE isleaf" | psql -X -q -v ON_ERROR_STOP=1 >/dev/null; }
each_partition "DISABLE TRIGGER USER"
psql_q "UPDATE public.orders SET amount = amount + 7 WHERE id % 13 = 0;
    UPDATE public.orders SET price = 0.1::float8 + 0.2::float8 WHERE id % 17 = 0" >/dev/null
each_partition "ENABLE TRIGGER USER"
assert_eq "$?" 0 "rows updated with the triggers disabled"
assert_eq "$(psql_q "SELECT count(*) FROM partmig.conv_1_undo u JOIN public.orders o USING (id) WHERE o.id % 13 = 0 OR o.id % 17 = 0")" 0 \
    "(not logged)"
# a partition detached for good (it keeps partmig's triggers until the end)
gone=$(psql_q "SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'public.orders'::regclass ORDER BY c.relname OFFSET 6 LIMIT 1")
psql_q "ALTER TABLE public.orders DETACH PARTITION $gone" >/dev/null
psql_q "CREATE TABLE public.expected AS SELECT * FROM public.orders" >/dev/null
changed=$(psql_q "SELECT count(*) FROM public.expected e JOIN public.orders_partmig_old o USING (id) WHERE e::text IS DISTINCT FROM o::text")
assert_eq "$([ "$changed" -gt 1000 ] && echo many)" many "the old table differs from the new one in many rows unlogged ($changed)"

run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 1 "finalize refuses: the old table is no complete copy"
assert_eq "$(psql_q "SELECT to_regclass('public.orders_partmig_old') IS NOT NULL")" t "nothing dropped"
# a trigger of another name calling partmig's function (its owner may make
# one): rollback drops it too, and ends
psql_q "CREATE TRIGGER extra_reverse AFTER DELETE ON $part FOR EACH ROW EXECUTE FUNCTION partmig.conv_1_reverse()" >/dev/null
PGOPTIONS="-c extra_float_digits=0" run_cmd timeout 120 "$PARTMIG" rollback --to 0 -d "$T/mig"
assert_eq "$RC" 0 "rollback ($ERR)"
assert_contains "$ERR" "changed unseen by partmig's triggers" "rollback logs the keys whose rows differ"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" r "a plain table again"
assert_eq "$(fingerprint orders)" "$(fingerprint expected)" "every row as the new table held it: none of the unlogged changes undone"
assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname ~ '^conv_[0-9]+_'")" 0 "no partmig table left"
assert_eq "$(psql_q "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'partmig%'") $(psql_q "SELECT count(*) FROM pg_proc WHERE proname ~ '^conv_[0-9]+_'")" "0 0" \
    "no trigger or function of partmig's left, on the partition detached for good neither"
assert_eq "$(psql_q "SELECT count(*) > 0 FROM $gone")" t "the partition detached for good is left alone ($gone)"
done
assert_done
