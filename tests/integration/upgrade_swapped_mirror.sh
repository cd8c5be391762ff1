#!/usr/bin/env bash
# upgrade_swapped_mirror.sh: a conversion the previous release swapped,
# whose rollback point is its synchronous mirror (a trigger on the new table
# writing every row into the old one; no undo log), is finished by this
# binary either way: rollback swaps back with every row (nothing to re-copy:
# the mirror kept the old table complete, and still does after the
# upgrade), finalize compares the whole tables and drops the old one with
# the mirror.  The fixture is that release's own output
# (tests/fixtures/swapped_v5/make.sh).
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
FX=tests/fixtures/swapped_v5
fingerprint() { psql_q "SELECT count(*) || ':' || md5(string_agg(id || at::text || coalesce(note, ''), ',' ORDER BY id)) FROM public.$1"; }
for db in r f; do
    psql_q "CREATE DATABASE $db" >/dev/null
    PGDATABASE=$db psql -X -q -v ON_ERROR_STOP=1 -f "$FX/dump.sql" >/dev/null
    # a restore gives the tables other oids: put the conversion's (and the
    # mirror's guard) right, as in the database the fixture came from
    PGDATABASE=$db psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
DO $$
DECLARE
  def text := pg_get_functiondef('partmig.conv_1_reverse()'::regprocedure);
BEGIN
  UPDATE partmig.conversions SET old_oid = 'public.orders_partmig_old'::regclass WHERE id = 1;
  EXECUTE regexp_replace(def, '[0-9]+::pg_catalog.oid', 'public.orders'::regclass::oid || '::pg_catalog.oid');
END $$;
SQL
    export PGDATABASE=$db
    assert_eq "$(psql_q "SELECT state FROM partmig.conversions WHERE id = 1")" swapped "database $db: the old release's conversion is swapped"
    assert_eq "$(psql_q "SELECT to_regclass('partmig.conv_1_undo') IS NULL")" t "database $db: without an undo log"
    # the mirror still acts after the upgrade: write more
    psql_q "UPDATE public.orders SET note = 'changed after the upgrade' WHERE id IN (30, 800); DELETE FROM public.orders WHERE id = 31;
            INSERT INTO public.orders VALUES (1002, '2025-04-01 UTC', 'inserted after the upgrade')" >/dev/null
    assert_eq "$(fingerprint orders_partmig_old)" "$(fingerprint orders)" "database $db: the mirror kept the old table complete"
done

export PGDATABASE=r
want=$(fingerprint orders)
run_cmd "$PARTMIG" rollback --to 0 -d "$FX/migrations"
assert_eq "$RC" 0 "this binary rolls the old release's conversion back ($ERR)"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" r "orders is a plain table again"
assert_eq "$(fingerprint orders)" "$want" "every row, those written after the swap and after the upgrade included"
assert_eq "$(psql_q "SELECT count(*) FROM pg_proc WHERE pronamespace = 'partmig'::regnamespace AND proname LIKE 'conv\_%'")" 0 "the mirror's function is gone"

export PGDATABASE=f
want=$(fingerprint orders)
run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 0 "this binary finalizes the old release's conversion ($ERR)"
assert_contains "$ERR" "verified 1000 rows" "comparing the whole tables"
assert_eq "$(psql_q "SELECT to_regclass('public.orders_partmig_old') IS NULL")" t "the old table is dropped"
assert_eq "$(psql_q "SELECT count(*) FROM pg_proc WHERE pronamespace = 'partmig'::regnamespace AND proname LIKE 'conv\_%'")" 0 "and the mirror's function"
assert_eq "$(fingerprint orders)" "$want" "orders intact"
assert_done
