#!/usr/bin/env bash
# convert_security.sh: what guards the rows comes along with them.  Row
# level security (ENABLE and FORCE) and every policy (command, roles,
# permissive or restrictive, USING, WITH CHECK) are on the converted table
# after the swap, for copy and for attach; column privileges are granted
# again; storage parameters are set on the new partitions; rollback gives
# back the original table with its own.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE clerk LOGIN;
CREATE ROLE auditor LOGIN;
CREATE SCHEMA app;
CREATE TABLE app.tenants (id int PRIMARY KEY, owner_role text NOT NULL);
INSERT INTO app.tenants VALUES (1, 'clerk'), (2, 'someone');
CREATE TABLE public.ledger (id bigint PRIMARY KEY, tenant_id int NOT NULL, amount numeric NOT NULL,
    secret text, created_at timestamptz NOT NULL) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
CREATE TABLE public.ledger2 (LIKE public.ledger INCLUDING ALL);
INSERT INTO public.ledger SELECT g, 1 + g % 2, g, 's' || g, timestamptz '2025-01-01 UTC' + g * interval '2 hours'
    FROM generate_series(1, 2000) g;
INSERT INTO public.ledger2 SELECT * FROM public.ledger;
GRANT USAGE ON SCHEMA app TO clerk, auditor;
GRANT SELECT ON app.tenants TO clerk, auditor;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['ledger', 'ledger2'] LOOP
    EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY "tenant rows" ON public.%I FOR SELECT TO clerk USING '
                   '(tenant_id IN (SELECT id FROM app.tenants WHERE owner_role = current_user))', t);
    EXECUTE format('CREATE POLICY small_only ON public.%I AS RESTRICTIVE FOR INSERT TO clerk, auditor '
                   'WITH CHECK (amount < 1000)', t);
    EXECUTE format('CREATE POLICY clerk_ins ON public.%I FOR INSERT TO clerk WITH CHECK (true)', t);
    EXECUTE format('CREATE POLICY everyone ON public.%I FOR ALL USING (amount > 1990)', t);
    EXECUTE format('GRANT SELECT, INSERT ON public.%I TO clerk', t);
    EXECUTE format('GRANT SELECT (id, amount) ON public.%I TO auditor', t);
  END LOOP;
END $$;
SQL
policies() { psql_q "SELECT string_agg(format('%s|%s|%s|%s|%s|%s', policyname, permissive, roles, cmd, qual, with_check), E'\n' ORDER BY policyname) FROM pg_policies WHERE schemaname = 'public' AND tablename = '$1'"; }
rls() { psql_q "SELECT relrowsecurity || ',' || relforcerowsecurity FROM pg_class WHERE oid = 'public.$1'::regclass"; }
colacl() { psql_q "SELECT string_agg(attname || '=' || attacl::text, ';' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'public.$1'::regclass AND attacl IS NOT NULL"; }
as_clerk() { psql -X -q -A -t -U clerk -c "$1" 2>&1; }
want_policies=$(policies ledger)
want_clerk=$(as_clerk "SELECT count(*) || ':' || sum(amount) FROM public.ledger")
want_colacl=$(colacl ledger)
echo "clerk sees $want_clerk"

POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/ledger.lua" <<'LUA'
partition "ledger" { column = "created_at", interval = "1 month", premake = 1, primary_key = { "id", "created_at" } }
partition "ledger2" { column = "created_at", interval = "1 month", premake = 1, primary_key = { "id", "created_at" },
  existing = { method = "attach" } }
LUA
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply converts both tables ($ERR)"
assert_contains "$ERR" 'row level security of "ledger" (enabled, forced, 4 policies)' "pre-flight notes row level security"
assert_contains "$ERR" 'column privileges on 2 column(s)' "pre-flight notes column privileges"
assert_contains "$ERR" 'storage parameters of "ledger" (fillfactor=80' "pre-flight notes storage parameters"
for t in ledger ledger2; do
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.$t'::regclass")" p "$t is partitioned"
    assert_eq "$(rls $t)" "true,true" "$t: row level security enabled and forced on the converted table"
    assert_eq "$(policies $t)" "$want_policies" "$t: every policy carried over"
    assert_eq "$(colacl $t)" "$want_colacl" "$t: column privileges carried over"
    assert_eq "$(as_clerk "SELECT count(*) || ':' || sum(amount) FROM public.$t")" "$want_clerk" "$t: clerk sees the same rows"
    assert_contains "$(as_clerk "INSERT INTO public.$t VALUES (99999, 1, 5000, 'x', '2025-02-01')")" "row-level security" "$t: the restrictive WITH CHECK still refuses"
    assert_eq "$(psql -X -q -A -t -U auditor -c "SELECT count(secret) FROM public.$t" 2>&1 | grep -c 'permission denied')" 1 "$t: auditor may not read every column"
    assert_eq "$(psql -X -q -A -t -U auditor -c "SELECT count(id) FROM public.$t")" 10 "$t: auditor reads the granted columns (policy 'everyone')"
done
assert_eq "$(psql_q "SELECT count(*) FROM pg_partition_tree('public.ledger') t JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf AND NOT (c.reloptions @> '{fillfactor=80,autovacuum_vacuum_scale_factor=0.02}')")" 0 "storage parameters on every partition"
assert_eq "$(psql_q "SELECT count(*) FROM pg_partition_tree('public.ledger2') t JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf AND NOT (c.reloptions @> '{fillfactor=80}')")" 0 "storage parameters on every partition (attach)"

run_cmd "$PARTMIG" rollback --to 0 -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "rollback ($ERR)"
for t in ledger ledger2; do
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.$t'::regclass")" r "$t is plain again"
    assert_eq "$(rls $t)" "true,true" "$t: rollback keeps row level security"
    assert_eq "$(policies $t)" "$want_policies" "$t: rollback keeps every policy"
    assert_eq "$(as_clerk "SELECT count(*) || ':' || sum(amount) FROM public.$t")" "$want_clerk" "$t: clerk sees the same rows after rollback"
done
assert_done
