#!/usr/bin/env bash
# security_workload.sh: the workload check plans statements that any role
# wrote into pg_stat_statements.  It plans each as the role that ran it, and
# that role's code must not get partmig's rights (a function the planner
# folds must not RESET ROLE back to partmig's session user), nor make
# partmig run anything for real.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "shared_preload_libraries = 'pg_stat_statements'"
PWNED="$PARTMIG_TEST_DIR/pwned"
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION pg_stat_statements;
CREATE TABLE public.orders (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, note text);
INSERT INTO public.orders (created_at, note)
SELECT timestamptz '2025-01-01 UTC' + g * interval '1 hour', 'n' FROM generate_series(1, 500) g;
CREATE TABLE public.secret (v text);
INSERT INTO public.secret VALUES ('s3cr3t');
CREATE ROLE mallory LOGIN;
GRANT SELECT ON public.orders TO mallory;
CREATE SCHEMA m AUTHORIZATION mallory;
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/orders.lua" <<'LUA'
partition "orders" { column = "created_at", interval = "1 month", primary_key = { "id", "created_at" } }
LUA
MIG="$PARTMIG_TEST_DIR/mig"
"$PARTMIG" compile "$POL" -o "$MIG" >/dev/null
as_mallory() { psql -X -q -A -t -v ON_ERROR_STOP=1 -U mallory "$@" 2>&1; }

# mallory's functions: an immutable one the planner folds, that leaves her
# role for the session user's (RESET ROLE through set_config) and calls a
# volatile one, which writes a file on the server (COPY TO: allowed in a
# read-only transaction, for a superuser) and reads a table she may not
as_mallory <<SQL
CREATE FUNCTION m.side() RETURNS int LANGUAGE plpgsql VOLATILE AS \$f\$
BEGIN
  EXECUTE format('COPY (SELECT current_user) TO %L', '$PWNED');
  RETURN 1;
END\$f\$;
CREATE FUNCTION m.escalate() RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS \$f\$
DECLARE s text;
BEGIN
  IF session_user <> 'mallory' THEN
    PERFORM set_config('role', 'none', true);
    BEGIN
      PERFORM m.side();
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    SELECT v INTO s FROM public.secret;
    RAISE EXCEPTION 'escalated: ran as % and read %', current_user, s;
  END IF;
  RETURN 1;
END\$f\$;
SQL
# the statement, frequent (pg_stat_statements keeps it)
for _ in $(seq 1 20); do echo "SELECT id, note FROM public.orders WHERE id = m.escalate();"; done |
    psql -X -q -U mallory -v ON_ERROR_STOP=1 >/dev/null || fail "mallory's statement"
assert_eq "$(psql_q "SELECT sum(calls) FROM pg_stat_statements WHERE query LIKE 'SELECT id, note FROM public.orders WHERE id = m.escalate()%'")" 20 "the statement is in pg_stat_statements"

run_cmd "$PARTMIG" plan -d "$MIG"
assert_eq "$RC" 0 "plan ($ERR)"
assert_contains "$ERR" "workload check of \"public.orders\"" "the workload check ran"
assert_not_contains "$ERR" "escalated: ran as" "mallory's function did not run as partmig's role"
assert_not_contains "$ERR" "s3cr3t" "no table mallory may not read leaks through the report"
assert_eq "$(test -e "$PWNED" && echo written || echo absent)" absent "no file written on the server as partmig's role"
assert_contains "$ERR" "m.escalate()" "the statement is still reported"
assert_contains "$ERR" 'cannot set parameter "role" within security-definer function' "the attempt to leave the role is refused"

# an operator of hers, reached through her search_path: partmig's own
# statements run under it while it resolves her unqualified names
as_mallory <<SQL
CREATE FUNCTION m.side2(what text) RETURNS void LANGUAGE plpgsql AS \$f\$
BEGIN
  EXECUTE format('COPY (SELECT current_user) TO %L', '$PWNED.' || what);
EXCEPTION WHEN OTHERS THEN NULL;
END\$f\$;
SQL
as_mallory <<'SQL'
CREATE FUNCTION m.eq(regclass, regclass) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  IF session_user <> 'mallory' THEN
    PERFORM set_config('role', 'none', true);
    PERFORM m.side2('regclass');
  END IF;
  RETURN $1::oid OPERATOR(pg_catalog.=) $2::oid;
END$f$;
CREATE OPERATOR m.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = m.eq);
CREATE FUNCTION m.eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  IF session_user <> 'mallory' THEN
    PERFORM set_config('role', 'none', true);
    PERFORM m.side2('text');
  END IF;
  RETURN $1 OPERATOR(pg_catalog.=) $2;
END$f$;
CREATE OPERATOR m.= (LEFTARG = text, RIGHTARG = text, FUNCTION = m.eq);
ALTER ROLE mallory SET search_path = m, pg_catalog, public;
SQL
for _ in $(seq 1 20); do echo "SELECT note FROM orders WHERE id = 7;"; done |
    psql -X -q -U mallory -v ON_ERROR_STOP=1 >/dev/null || fail "mallory's unqualified statement"
run_cmd "$PARTMIG" plan -d "$MIG"
assert_eq "$RC" 0 "plan ($ERR)"
assert_eq "$(ls "$PARTMIG_TEST_DIR" | grep -c pwned)" 0 "her operators did not run as partmig's role ($(ls "$PARTMIG_TEST_DIR" | grep pwned | tr '\n' ' '))"
assert_contains "$ERR" "SELECT note FROM orders WHERE id = \$1" "her unqualified statement is planned"

# a comment inside a typed literal (interval --c <newline> '1 day'): the
# rewrite to CAST($2 AS interval --c) must not comment out its own ")" and
# turn what follows in the text (here a quoted alias) into statements
as_mallory <<'SQL'
CREATE FUNCTION m.boom() RETURNS int LANGUAGE plpgsql AS $f$
BEGIN
  RAISE EXCEPTION 'injected statement ran as %', current_user;
END$f$;
SQL
for _ in $(seq 1 20); do
    printf '%s\n' "SELECT (SELECT count(*) FROM public.orders WHERE id = 5), now() - interval --c" \
        "'1 day' AS \"" "); SELECT m.boom(); --\";"
done | psql -X -q -U mallory -v ON_ERROR_STOP=1 >/dev/null || fail "mallory's statement with a commented typed literal"
assert_eq "$(psql_q "SELECT sum(calls) FROM pg_stat_statements WHERE query LIKE '%interval --c%' AND query NOT LIKE '%pg_stat_statements%'")" 20 "the statement is in pg_stat_statements"
run_cmd "$PARTMIG" plan -d "$MIG"
assert_eq "$RC" 0 "plan ($ERR)"
assert_not_contains "$ERR" "injected statement ran" "the text after the commented-out parenthesis did not run"
assert_contains "$ERR" "a typed literal holds a comment" "the statement is reported, not planned, and why"

# a role's code may not lift the check's bounds: statement_timeout set to
# 0 from inside the statement does not let it sleep
as_mallory <<'SQL'
CREATE FUNCTION m.slow() RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
  IF session_user <> 'mallory' THEN
    PERFORM set_config('statement_timeout', '0', true);
    PERFORM set_config('lock_timeout', '0', true);
    PERFORM pg_sleep(60);
  END IF;
  RETURN 1;
END$f$;
SQL
for _ in $(seq 1 20); do echo "SELECT note FROM public.orders WHERE id = m.slow();"; done |
    psql -X -q -U mallory -v ON_ERROR_STOP=1 >/dev/null || fail "mallory's slow statement"
t0=$(date +%s)
run_cmd "$PARTMIG" plan -d "$MIG"
assert_eq "$RC" 0 "plan ($ERR)"
assert_eq "$(($(date +%s) - t0 < 30))" 1 "the check stays bounded ($(($(date +%s) - t0)) s)"
assert_contains "$ERR" "m.slow(): cannot plan it: canceling statement due to statement timeout" "the statement is cut by the check's statement_timeout"
psql_q "DROP FUNCTION m.slow() CASCADE" >/dev/null

# a huge text is not read whole (up to 1,000 of them are read): said, not planned
long=$(head -c 40000 /dev/zero | tr '\0' z)
for _ in $(seq 1 20); do echo "SELECT created_at, id /* $long */ FROM public.orders WHERE id = 3;"; done |
    psql -X -q -U mallory -v ON_ERROR_STOP=1 >/dev/null || fail "mallory's long statement"
run_cmd "$PARTMIG" plan -d "$MIG"
assert_eq "$RC" 0 "plan ($ERR)"
assert_contains "$ERR" "its text is longer than 32768 characters: not read" "the long statement is reported as not read"

# a role whose search_path resolves "orders" to another table: that name,
# beside a reference to public.orders, is not planned against the shape
# table (which lives in pg_temp, searched first unless the path names it)
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE bob LOGIN;
CREATE SCHEMA app2;
CREATE TABLE app2.orders (id bigint PRIMARY KEY, tag text);
INSERT INTO app2.orders SELECT g, 't' FROM generate_series(1, 100) g;
GRANT USAGE ON SCHEMA app2 TO bob;
GRANT SELECT ON app2.orders, public.orders TO bob;
ALTER ROLE bob SET search_path = app2;
SQL
for _ in $(seq 1 20); do echo "SELECT o.note, x.tag FROM public.orders o JOIN orders x ON x.id = o.id WHERE o.created_at >= now() AND o.created_at < now();"; done |
    psql -X -q -U bob -v ON_ERROR_STOP=1 >/dev/null || fail "bob's statement"
run_cmd "$PARTMIG" plan -d "$MIG" --json
assert_eq "$RC" 0 "plan --json ($ERR)"
bob=$(printf '%s' "$OUT" | python3 -c '
import json, sys
for step in json.load(sys.stdin):
    for s in (step.get("workload") or {}).get("statements", []):
        if s["role"] == "bob":
            print(s["checked"], s.get("prunes"))
')
assert_eq "$bob" "True True" "bob's statement prunes: his orders is app2.orders, planned as such"

# the planning functions of other roles (here the superuser's) are not
# hers to call: she would plan her text as their owner
for _ in $(seq 1 20); do echo "SELECT count(*) FROM public.orders WHERE id = 11;"; done |
    psql -X -q -v ON_ERROR_STOP=1 >/dev/null || fail "postgres's statement"
as_mallory <<SQL
CREATE FUNCTION m.borrow() RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS \$f\$
DECLARE f regprocedure; msgs text := '';
BEGIN
  IF session_user <> 'mallory' THEN
    FOR f IN SELECT p.oid FROM pg_proc p WHERE p.proname LIKE 'partmig\_plan\_%' LOOP
      BEGIN
        EXECUTE format('SELECT %s(%L)', f::oid::regproc,
                       'PREPARE x AS SELECT 1; COPY (SELECT current_user) TO ''$PWNED.borrowed''');
      EXCEPTION WHEN OTHERS THEN msgs := msgs || SQLERRM || '; ';
      END;
    END LOOP;
    RAISE EXCEPTION 'borrowing: %', msgs;
  END IF;
  RETURN 1;
END\$f\$;
SQL
for _ in $(seq 1 20); do echo "SELECT note FROM public.orders WHERE id = m.borrow();"; done |
    psql -X -q -U mallory -v ON_ERROR_STOP=1 >/dev/null || fail "mallory's borrowing statement"
run_cmd "$PARTMIG" plan -d "$MIG"
assert_eq "$RC" 0 "plan ($ERR)"
assert_contains "$ERR" "borrowing: permission denied for function partmig_plan_" "another role's planning function is refused to her"
assert_eq "$(test -e "$PWNED.borrowed" && echo written || echo absent)" absent "nothing planned or run through it"

# session state: a function the planner folds runs in a session of
# partmig's; it must not be the one holding the runner lock (an advisory
# lock of that session, which it could release: two applies at once)
as_mallory <<'SQL'
CREATE FUNCTION m.unlock() RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
  IF session_user <> 'mallory' THEN
    RAISE EXCEPTION 'released the runner lock: %', pg_advisory_unlock(1885434484, 1835624241);
  END IF;
  RETURN 1;
END$f$;
SQL
for _ in $(seq 1 20); do echo "SELECT note FROM public.orders WHERE id = m.unlock();"; done |
    psql -X -q -U mallory -v ON_ERROR_STOP=1 >/dev/null || fail "mallory's unlocking statement"
run_cmd "$PARTMIG" apply -d "$MIG"
assert_eq "$RC" 0 "apply ($ERR)"
assert_contains "$ERR" "released the runner lock: f" "her function runs in a session without the runner lock"
assert_not_contains "$ERR" "released the runner lock: t" "the runner lock is not released"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" p "the table is converted"

assert_done
