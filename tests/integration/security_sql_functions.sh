#!/usr/bin/env bash
# security_sql_functions.sh: sql/conversion.sql's functions, attacked.
# Hostile names in the key the rows are copied by (quotes, spaces,
# capitals, dollar-quote tags, names of the functions' own variables) are
# (here a unique index's: the table has no primary key) are quoted everywhere the change capture and the re-copy splice them: a
# conversion under writers keeps every committed row.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.h ("Key $fn$ ""q" bigint NOT NULL, "$body$" text NOT NULL, id bigint NOT NULL,
    created timestamptz NOT NULL, tg_op text, "NEW" int, pm_row int, r int, conversion int);
CREATE UNIQUE INDEX h_key ON public.h ("Key $fn$ ""q", "$body$", created);
INSERT INTO public.h SELECT g, '$fn$' || g, g, now() - (g % 200) * interval '1 day', 'x', g, g, g, g
    FROM generate_series(1, 3000) g;
CREATE TABLE public.expected_h AS SELECT * FROM public.h;
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/h.lua" <<'LUA'
partition "h" { column = "created", interval = "1 month", premake = 1,
  existing = { method = "copy", batch_size = 100 } }
LUA
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null || fail "compile"
STOP="$PARTMIG_TEST_DIR/stop"
(
    n=0
    while [ ! -e "$STOP" ]; do
        n=$((n + 1))
        k=$(((n * 37) % 3000 + 1))
        case $((n % 3)) in
        0) q="WITH u AS (UPDATE public.h SET created = created + interval '35 days', pm_row = pm_row + 1 WHERE \"Key \$fn\$ \"\"q\" = $k RETURNING *) UPDATE public.expected_h e SET created = u.created, pm_row = u.pm_row FROM u WHERE e.\"Key \$fn\$ \"\"q\" = u.\"Key \$fn\$ \"\"q\"" ;;
        1) q="WITH i AS (INSERT INTO public.h VALUES ($((100000 + n)), 'new', $((100000 + n)), now() - interval '3 days') RETURNING *) INSERT INTO public.expected_h SELECT * FROM i" ;;
        2) q="WITH x AS (DELETE FROM public.h WHERE \"Key \$fn\$ \"\"q\" = $((k + 1)) RETURNING *) DELETE FROM public.expected_h e USING x WHERE e.\"Key \$fn\$ \"\"q\" = x.\"Key \$fn\$ \"\"q\"" ;;
        esac
        psql -X -q -c "$q" >/dev/null 2>>"$PARTMIG_TEST_DIR/writer.err" || echo "writer failed: $q" >>"$PARTMIG_TEST_DIR/writer.err"
    done
) &
wpid=$!
sleep 0.3
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --sleep 20
assert_eq "$RC" 0 "apply converts a table whose copy key has hostile names ($ERR)"
touch "$STOP"
wait "$wpid"
assert_eq "$(cat "$PARTMIG_TEST_DIR/writer.err" 2>/dev/null)" "" "the writer never failed"
fp() { psql_q "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM public.$1 t"; }
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.h'::regclass")" p "h is partitioned"
assert_eq "$(fp h)" "$(fp expected_h)" "h holds exactly what was committed"
assert_contains "$ERR" "keys changed during the copy" "rows written during the copy were re-copied"
assert_eq "$(psql_q "SELECT key_columns::text FROM partmig.conversions WHERE table_name = 'h'")" '{"Key $fn$ \"q",$body$,created}' "the key recorded as is"

assert_done
