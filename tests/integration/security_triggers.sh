#!/usr/bin/env bash
# security_triggers.sh: the trigger functions a copy conversion installs run
# as partmig's role (SECURITY DEFINER), so nobody else may call or attach
# them, and each refuses to act for any table but its own.  Application
# roles keep writing through them, during the copy and after the swap.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE app LOGIN;
CREATE ROLE mallory LOGIN;
CREATE TABLE public.orders (id bigint PRIMARY KEY, at timestamptz NOT NULL, note text);
INSERT INTO public.orders SELECT g, timestamptz '2025-01-01 UTC' + g * interval '1 hour', 'n' || g FROM generate_series(1, 3000) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.orders TO app;
CREATE TABLE public.mine (id int);
ALTER TABLE public.mine OWNER TO mallory;
CREATE TABLE public.other (id bigint, at timestamptz, note text);
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/o.lua" <<'LUA'
partition "orders" { column = "at", interval = "1 month", premake = 1, primary_key = { "id", "at" } }
LUA
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null
as_app() { psql -X -q -A -t -v ON_ERROR_STOP=1 -U app -c "$1" 2>&1; }
as_mallory() { psql -X -q -A -t -U mallory -c "$1" 2>&1; }

# during the copy: slow batches, then look at the capture functions
"$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --batch-size 100 --sleep 300 >"$PARTMIG_TEST_DIR/apply1.log" 2>&1 &
APPLY=$!
for _ in $(seq 1 100); do
    [ "$(psql_q "SELECT count(*) FROM pg_proc WHERE proname LIKE 'conv\_%\_capture'")" = 1 ] &&
        [ "$(psql_q "SELECT count(*) FROM pg_trigger WHERE tgname = 'partmig_capture'")" = 1 ] && break
    sleep 0.1
done
assert_eq "$(psql_q "SELECT bool_or(has_function_privilege('app', p.oid, 'EXECUTE')) FROM pg_proc p WHERE proname LIKE 'conv\_%\_capture'")" f "app may not execute the capture function"
# sql/conversion.sql's functions (re-copy, TRUNCATE guard, ...): none for PUBLIC
for f in conversion_guard conversion_resync conversion_install_capture conversion_set_keys; do
    assert_eq "$(psql_q "SELECT has_function_privilege('app', p.oid, 'EXECUTE') FROM pg_proc p WHERE p.pronamespace = 'partmig'::regnamespace AND p.proname = '$f'")" f "app may not execute partmig.$f"
done
assert_eq "$(psql_q "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'partmig'::regnamespace AND has_function_privilege('app', p.oid, 'EXECUTE')")" 0 "app may execute no function of schema partmig"
assert_eq "$(psql_q "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'partmig'::regnamespace AND p.prosecdef AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false)")" 0 "every SECURITY DEFINER function of schema partmig sets search_path"
assert_eq "$(as_app "INSERT INTO public.orders VALUES (5001, '2025-03-01 UTC', 'during')")" "" "app inserts while the capture trigger runs"
assert_eq "$(as_app "UPDATE public.orders SET note = 'changed' WHERE id = 7")" "" "app updates while the capture trigger runs"
CAP=$(psql_q "SELECT 'partmig.' || proname FROM pg_proc WHERE proname LIKE 'conv\_%\_capture'")
assert_contains "$(as_mallory "CREATE TRIGGER x AFTER INSERT ON public.mine FOR EACH ROW EXECUTE FUNCTION $CAP()")" "permission denied" "mallory cannot attach the capture function"
assert_contains "$(as_mallory "CREATE TRIGGER x BEFORE TRUNCATE ON public.mine FOR EACH STATEMENT EXECUTE FUNCTION partmig.conversion_guard('1')")" "permission denied" "mallory cannot attach the TRUNCATE guard"
psql_q "CREATE TRIGGER x AFTER INSERT ON public.other FOR EACH ROW EXECUTE FUNCTION $CAP()"
assert_contains "$(psql -X -q -A -t -c "INSERT INTO public.other VALUES (1, now(), 'x')" 2>&1)" "is not for table" "the capture function refuses another table"
psql_q "DROP TRIGGER x ON public.other"
wait $APPLY
assert_eq "$?" 0 "apply finishes ($(tail -3 "$PARTMIG_TEST_DIR/apply1.log"))"

# after the swap: the undo log's trigger function
REV=$(psql_q "SELECT 'partmig.' || proname FROM pg_proc WHERE proname LIKE 'conv\_%\_reverse'")
assert_contains "$REV" "_reverse" "the reverse function exists after the swap"
assert_eq "$(psql_q "SELECT has_function_privilege('app', '$REV()', 'EXECUTE')")" f "app may not execute the reverse function"
psql_q "GRANT USAGE ON SCHEMA partmig TO mallory"
assert_contains "$(as_mallory "CREATE TRIGGER x AFTER INSERT ON public.mine FOR EACH ROW EXECUTE FUNCTION $REV()")" "permission denied" "mallory (with USAGE on the schema) cannot attach the reverse function"
psql_q "CREATE TRIGGER x AFTER INSERT ON public.other FOR EACH ROW EXECUTE FUNCTION $REV()"
# (the undo log's triggers are on each partition, and a partition detached
# keeps them: the function does nothing for another table)
assert_eq "$(psql -X -q -A -t -c "INSERT INTO public.other VALUES (2, now(), 'x')" 2>&1)" "" "the reverse function does nothing for another table"
UNDO=$(psql_q "SELECT 'partmig.conv_' || id || '_undo' FROM partmig.conversions WHERE table_name = 'orders'")
assert_eq "$(psql_q "SELECT count(*) FROM $UNDO WHERE id = 2")" 0 "nothing reached the undo log through it"
assert_eq "$(psql_q "SELECT has_table_privilege('app', '$UNDO', 'SELECT') OR has_table_privilege('app', '$UNDO', 'INSERT') OR has_table_privilege('app', '$UNDO', 'DELETE')")" f "app has no right on the undo log"
assert_eq "$(as_app "INSERT INTO public.orders VALUES (5002, '2025-03-02 UTC', 'after')")" "" "app inserts after the swap"
assert_eq "$(as_app "DELETE FROM public.orders WHERE id = 8")" "" "app deletes after the swap"
assert_eq "$(psql_q "SELECT count(DISTINCT id) FROM $UNDO WHERE id = 8")" 1 "the undo log names the delete made after the swap (the trigger writes it as partmig's role)"
CID=$(psql_q "SELECT id FROM partmig.conversions WHERE table_name = 'orders'")
assert_eq "$(psql_q "SELECT count(*) FROM public.orders n WHERE n.id = 5002 AND $(written_since_swap "$CID" n)")" 1 "the insert is newer than the horizon"
assert_eq "$(psql_q "SELECT note FROM public.orders WHERE id = 7")" changed "the update made during the copy is in the new table"
unchanged="NOT EXISTS (SELECT 1 FROM $UNDO u WHERE u.id = o.id) AND NOT EXISTS (SELECT 1 FROM public.orders n WHERE n.id = o.id AND $(written_since_swap "$CID" n))"
want=$(psql_q "SELECT md5(string_agg(id || note, ',' ORDER BY id)) FROM public.orders_partmig_old o WHERE $unchanged")
assert_eq "$(psql_q "SELECT md5(string_agg(id || note, ',' ORDER BY id)) FROM public.orders o WHERE $unchanged")" "$want" "old and new tables hold the same rows on every key not changed since the swap"
assert_eq "$(psql_q "SELECT count(*) FROM public.orders")" 3001 "3000 + 2 inserted - 1 deleted"
assert_done
