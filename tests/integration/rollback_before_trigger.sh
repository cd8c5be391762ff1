#!/usr/bin/env bash
# rollback_before_trigger.sh: between swap and finalize, an UPDATE that
# changes a row's key or partition value is logged by partmig_reverse_move,
# UPDATE OF the key and partition columns (an UPDATE naming neither does
# not even parse its WHEN clause).  A BEFORE UPDATE row trigger made after
# the swap (pre-flight refuses a table with triggers) may change them
# unnamed, and may be dropped again before rollback or finalize reads the
# log.  Either way rollback carries every committed row back -- no row left
# under its old key, none refused as a repeat -- and finalize refuses
# (nothing dropped: the old table's row under the old key is missing from
# the new one), then rollback does.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
T=$PARTMIG_TEST_DIR

orders_copy_policy "$T"

# renumber: the id moves by a million; shift: created_at a second earlier,
# within its month (a BEFORE trigger may not move a row to another partition)
trigger_sql="CREATE FUNCTION public.orders_rewrite() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  IF NEW.note = 'renumber' THEN NEW.id := NEW.id + 1000000; END IF;
  IF NEW.note = 'shift' AND date_trunc('month', NEW.created_at - interval '1 second') = date_trunc('month', NEW.created_at) THEN
    NEW.created_at := NEW.created_at - interval '1 second';
  END IF;
  RETURN NEW;
END \$\$;
CREATE TRIGGER orders_rewrite BEFORE UPDATE ON public.orders FOR EACH ROW EXECUTE FUNCTION public.orders_rewrite();"

for db in rollback finalize rollback_dropped finalize_dropped; do
    psql_q "CREATE DATABASE $db" >/dev/null
    export PGDATABASE=$db
    psql_q "CREATE TABLE public.orders (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, amount numeric NOT NULL, note text);
        INSERT INTO public.orders SELECT g, now() - (g % 300) * interval '1 day' - g * interval '1 second', g, 'row ' || g
            FROM generate_series(1, 20000) g" >/dev/null
    run_cmd "$PARTMIG" apply -d "$T/mig" --jobs 2
    assert_eq "$RC" 0 "$db: apply ($ERR)"
    assert_contains "$(psql_q "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid IN (SELECT relid FROM pg_partition_tree('public.orders') WHERE isleaf) AND tgname = 'partmig_reverse_move' LIMIT 1")" \
        "AFTER UPDATE OF id, created_at ON" "$db: the key-move trigger fires on an UPDATE naming the key or partition column"
    psql_q "$trigger_sql" >/dev/null
    psql_q "UPDATE public.orders SET note = 'renumber' WHERE id % 23 = 0;
        UPDATE public.orders SET note = 'shift' WHERE id % 29 = 0;
        UPDATE public.orders SET amount = amount + 1 WHERE id % 7 = 0;
        UPDATE public.orders SET id = id + 2000000 WHERE id % 31 = 0;
        DELETE FROM public.orders WHERE id % 37 = 0;
        CREATE TABLE public.expected AS SELECT * FROM public.orders" >/dev/null
    case $db in *_dropped) psql_q "DROP TRIGGER orders_rewrite ON public.orders; DROP FUNCTION public.orders_rewrite()" >/dev/null ;; esac
    assert_eq "$(psql_q "SELECT count(*) > 500 FROM public.orders WHERE id > 1000000 AND id < 2000000")" t \
        "$db: the BEFORE trigger renumbered rows whose key the UPDATE did not name"
    assert_eq "$(psql_q "SELECT count(*) > 500 FROM public.orders n JOIN public.orders_partmig_old o USING (id) WHERE n.created_at <> o.created_at")" t \
        "$db: and moved others within their partition"
    if [ "${db%_dropped}" = finalize ]; then
        run_cmd "$PARTMIG" finalize public.orders
        assert_eq "$RC" 1 "$db: finalize refuses"
        assert_eq "$(psql_q "SELECT to_regclass('public.orders_partmig_old') IS NOT NULL")" t "$db: nothing dropped"
    fi
    run_cmd "$PARTMIG" rollback --to 0 -d "$T/mig"
    assert_eq "$RC" 0 "$db: rollback ($ERR)"
    assert_contains "$ERR" "changed unseen by partmig's triggers" "$db: rollback logs the keys whose rows differ"
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" r "$db: a plain table again"
    assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname ~ '^conv_[0-9]+_'")" 0 "$db: no partmig table left"
    assert_eq "$(fingerprint orders)" "$(fingerprint expected)" "$db: every committed row, none left under its old key"
done
assert_done
