#!/usr/bin/env bash
# security_ledger_owner.sh: a role that may create schemas in the database
# (here: the database's owner, not a superuser) plants schema "partmig"
# before partmig ever ran, with a trigger, a view calling its own function,
# or a grant that lets it write the ledger.  A superuser then runs every
# partmig command: each refuses before touching the schema, names the
# offending role and object, and the planter never becomes superuser.
# A ledger partmig made itself, owned by the role running partmig, is used
# as before; one whose tables grant TRIGGER or UPDATE to another role is
# refused.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE mallory LOGIN;
CREATE DATABASE shop OWNER mallory;
SQL
trap_sql() { # the trap: escalate mallory when a superuser writes partmig.meta or reads its view
    psql -X -q -v ON_ERROR_STOP=1 -U mallory -d shop <<'SQL'
CREATE SCHEMA partmig;
CREATE FUNCTION partmig.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE mallory SUPERUSER';
  END IF;
  RETURN NEW;
END $$;
CREATE FUNCTION partmig.escalate_read() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE mallory SUPERUSER';
  END IF;
  RETURN 'x';
END $$;
CREATE TABLE partmig.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TRIGGER t BEFORE INSERT OR UPDATE ON partmig.meta FOR EACH ROW EXECUTE FUNCTION partmig.escalate();
CREATE VIEW partmig.migrations AS SELECT 1 AS version, partmig.escalate_read() AS name, '' AS checksum,
    'applied' AS state, NULL::timestamptz AS finished_at;
SQL
}
trap_sql
is_super() { psql_q "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"; }

POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/t.lua" <<'LUA'
partition "events" { column = "at", interval = "1 month", premake = 1, start = "2026-01-01",
  columns = { { "id", "bigint not null" }, { "at", "timestamptz not null" } }, primary_key = { "id", "at" } }
LUA
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" --as-of 2026-03-01 >/dev/null
URL="postgresql:///shop?host=$PGHOST&port=$PGPORT&user=postgres"
D="-d $PARTMIG_TEST_DIR/mig"
for cmd in "apply $D" "status" "verify $D" "maintain" "plan $D" "rollback --to 0 $D" "finalize public.events"; do
    # shellcheck disable=SC2086
    run_cmd "$PARTMIG" $cmd --db "$URL"
    assert_eq "$RC" 1 "$cmd refuses the planted schema"
    assert_contains "$ERR" 'the ledger (schema "partmig") is not safe to use: role mallory' "$cmd names the planter"
    assert_contains "$ERR" 'hint: ' "$cmd says what to do"
    assert_eq "$(is_super)" f "$cmd: mallory is still not a superuser"
done
assert_eq "$(psql_q "SELECT count(*) FROM pg_tables WHERE tablename = 'events'" )" 0 "apply changed nothing in postgres"
assert_eq "$(psql -X -q -A -t -d shop -c "SELECT to_regclass('public.events') IS NULL")" t "apply created nothing in shop"

# each single kind of foothold is refused on its own, in a ledger partmig made
psql -X -q -d shop -c "SET client_min_messages = warning; DROP SCHEMA partmig CASCADE" >/dev/null
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --db "$URL"
assert_eq "$RC" 0 "apply on a clean database ($ERR)"
for grant in "GRANT TRIGGER ON partmig.meta TO mallory" "GRANT UPDATE ON partmig.policies TO mallory" \
             "GRANT UPDATE (policy) ON partmig.policies TO mallory" "GRANT CREATE ON SCHEMA partmig TO mallory" \
             "GRANT INSERT ON partmig.steps TO PUBLIC" "ALTER TABLE partmig.batches OWNER TO mallory"; do
    psql -X -q -v ON_ERROR_STOP=1 -d shop -c "$grant"
    run_cmd "$PARTMIG" status --db "$URL"
    assert_eq "$RC" 1 "status refuses after: $grant"
    assert_contains "$ERR" 'is not safe to use' "message after: $grant"
    case "$grant" in
    ALTER*) revoke="ALTER TABLE partmig.batches OWNER TO postgres" ;;
    *) revoke=$(echo "$grant" | sed -e 's/^GRANT/REVOKE/' -e 's/ TO / FROM /') ;;
    esac
    psql -X -q -v ON_ERROR_STOP=1 -d shop -c "$revoke"
    run_cmd "$PARTMIG" status --db "$URL"
    assert_eq "$RC" 0 "status works again after: $revoke ($ERR)"
done
# read access for monitoring is fine
psql -X -q -v ON_ERROR_STOP=1 -d shop -c "GRANT USAGE ON SCHEMA partmig TO mallory; GRANT SELECT ON ALL TABLES IN SCHEMA partmig TO mallory"
run_cmd "$PARTMIG" status --db "$URL"
assert_eq "$RC" 0 "SELECT granted to a monitoring role is fine ($ERR)"

# the owner itself (not a superuser) runs partmig on its own ledger: trusted
psql -X -q -d shop -c "SET client_min_messages = warning; DROP SCHEMA partmig CASCADE; DROP TABLE public.events" >/dev/null
MURL="postgresql:///shop?host=$PGHOST&port=$PGPORT&user=mallory"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --db "$MURL"
assert_eq "$RC" 0 "a non-superuser owner applies with its own ledger ($ERR)"
# ... but a superuser does not run on mallory's ledger, unless it takes mallory's role
run_cmd "$PARTMIG" status --db "$URL"
assert_eq "$RC" 1 "a superuser refuses a ledger a non-superuser owns"
assert_contains "$ERR" "PGOPTIONS='-c role=NAME'" "the hint names the way to run as the ledger's role"
PGOPTIONS='-c role=mallory' run_cmd "$PARTMIG" status --db "$URL"
assert_eq "$RC" 0 "as role mallory, the superuser's session may use mallory's ledger ($ERR)"
assert_eq "$(is_super)" f "mallory never became superuser"

# retention's archive schema must be trusted too: mallory made "vault" first
psql -X -q -d shop -c "SET client_min_messages = warning; DROP SCHEMA partmig CASCADE; DROP TABLE public.events" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -U mallory -d shop -c "CREATE SCHEMA vault"
cat >"$POL/t.lua" <<'LUA'
partition "events" { column = "at", interval = "1 month", premake = 1, start = "2024-01-01",
  columns = { { "id", "bigint not null" }, { "at", "timestamptz not null" } }, primary_key = { "id", "at" },
  retention = { keep = "3 months", archive = "schema:vault" } }
LUA
rm -rf "$PARTMIG_TEST_DIR/mig"
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --db "$URL"
assert_eq "$RC" 0 "apply the retention policy ($ERR)"
psql -X -q -v ON_ERROR_STOP=1 -d shop -c "INSERT INTO public.events VALUES (1, '2024-01-15 UTC')"
run_cmd "$PARTMIG" maintain --db "$URL"
assert_eq "$RC" 1 "maintain refuses to archive into a schema mallory owns"
assert_contains "$ERR" 'the archive (schema "vault") is not safe to use: role mallory owns the schema' "names the archive schema's owner"
assert_contains "$ERR" "hint: partmig runs as postgres" "maintain prints the hint of a table's failure"
assert_eq "$(psql -X -q -A -t -d shop -c "SELECT count(*) FROM public.events")" 1 "the row stays in the table"
assert_eq "$(psql -X -q -A -t -d shop -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'vault'")" 0 "nothing moved into vault"

# a table owner without CREATE on the database runs partmig once a superuser
# has made schema partmig for it (CREATE SCHEMA IF NOT EXISTS would want the
# database privilege even so)
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE owner2 LOGIN;
CREATE SCHEMA shop2 AUTHORIZATION owner2;
CREATE SCHEMA partmig AUTHORIZATION owner2;
SQL
psql -X -q -v ON_ERROR_STOP=1 -U owner2 -c "CREATE TABLE shop2.o (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL);
    INSERT INTO shop2.o (created_at) SELECT now() - g * interval '1 day' FROM generate_series(1, 300) g"
mkdir -p "$PARTMIG_TEST_DIR/pol2"
echo 'partition "o" { schema = "shop2", column = "created_at", interval = "1 month", primary_key = { "id", "created_at" } }' >"$PARTMIG_TEST_DIR/pol2/o.lua"
"$PARTMIG" compile "$PARTMIG_TEST_DIR/pol2" -o "$PARTMIG_TEST_DIR/mig2" >/dev/null
OURL="postgresql:///postgres?host=$PGHOST&port=$PGPORT&user=owner2"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig2" --db "$OURL"
assert_eq "$RC" 0 "the owner converts its table with a schema partmig made for it ($ERR)"
run_cmd "$PARTMIG" finalize shop2.o --db "$OURL"
assert_eq "$RC" 0 "and finalizes it ($ERR)"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'shop2.o'::regclass")" p "shop2.o is partitioned"
assert_done
