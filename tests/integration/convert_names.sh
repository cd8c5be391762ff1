#!/usr/bin/env bash
# convert_names.sh: names partmig invents never collide with the user's.
# Key columns named like partmig's own (seq, id, job, conversion, key_lo,
# op, partmig_seq, partmig_part) and like the aliases of its statements
# convert under writers; a table already named TABLE_partmig_new /
# TABLE_partmig_old makes the conversion take fresh names (and is left
# alone); a constraint under the name an attach conversion needs is refused
# with a clear message, and nothing is recorded.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
W="$PARTMIG_TOOLS/convert_writer"
[ -x "$W" ] || W="$PARTMIG_TOOLS/tools/convert_writer"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.lines (doc bigint NOT NULL, seq int NOT NULL, posted timestamptz NOT NULL, qty int,
    PRIMARY KEY (doc, seq));
INSERT INTO public.lines SELECT g / 10, g % 10, now() - (g % 200) * interval '1 day', g FROM generate_series(1, 20000) g;
CREATE TABLE public.expected_lines AS SELECT * FROM public.lines;
CREATE TABLE public.lines_partmig_new (x int);
CREATE TABLE public.lines_partmig_old (x int);
INSERT INTO public.lines_partmig_new VALUES (42);
CREATE TABLE public.weird (id bigserial, job int NOT NULL DEFAULT 1, conversion int NOT NULL DEFAULT 2,
    key_lo text NOT NULL DEFAULT 'k', op text NOT NULL DEFAULT 'o', partmig_seq int NOT NULL DEFAULT 3,
    partmig_part int NOT NULL DEFAULT 4, created timestamptz NOT NULL, o int, l int, s int, g int, pm_x int, d int, r int, k int,
    pm_last int, pm_batch int, pm_locked int,
    PRIMARY KEY (id, job, conversion, key_lo, op, partmig_seq, partmig_part));
INSERT INTO public.weird (created, o, l, s, g, pm_x, d, r) SELECT now() - (g % 200) * interval '1 day', 1, 2, 3, 4, 5, 6, 7
    FROM generate_series(1, 20000) g;
CREATE TABLE public.expected_weird AS SELECT * FROM public.weird;
ANALYZE;
CREATE TABLE public.att (id bigserial PRIMARY KEY, created timestamptz NOT NULL);
INSERT INTO public.att (created) SELECT now() - g * interval '1 hour' FROM generate_series(1, 100) g;
ALTER TABLE public.att ADD CONSTRAINT att_partmig_range CHECK (id > 0);
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL" "$PARTMIG_TEST_DIR/pol2"
cat >"$POL/t.lua" <<'LUA'
partition "lines" { column = "posted", interval = "1 month", premake = 1,
  primary_key = { "doc", "seq", "posted" }, existing = { method = "copy", batch_size = 2000 } }
partition "weird" { column = "created", interval = "1 month", premake = 1,
  primary_key = { "id", "job", "conversion", "key_lo", "op", "partmig_seq", "partmig_part", "created" },
  existing = { method = "copy", batch_size = 2000 } }
LUA
cat >"$PARTMIG_TEST_DIR/pol2/a.lua" <<'LUA'
partition "att" { column = "created", interval = "1 month", primary_key = { "id", "created" },
  existing = { method = "attach" } }
LUA
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"

STOP="$PARTMIG_TEST_DIR/stop"
"$W" weird created "$STOP" 5 >"$PARTMIG_TEST_DIR/writer.out" 2>&1 &
wpid=$!
# a writer on (doc, seq): moves lines across partitions, inserts, deletes
(
    n=0
    while [ ! -e "$STOP" ]; do
        n=$((n + 1))
        d=$(((n * 37) % 2000))
        case $((n % 3)) in
        0) q="WITH u AS (UPDATE public.lines SET posted = posted + interval '35 days', qty = qty + 1 WHERE doc = $d AND seq = $((n % 10)) RETURNING *) UPDATE public.expected_lines e SET posted = u.posted, qty = u.qty FROM u WHERE e.doc = u.doc AND e.seq = u.seq" ;;
        1) q="WITH i AS (INSERT INTO public.lines VALUES ($((100000 + n)), 1, now() - interval '3 days', $n) RETURNING *) INSERT INTO public.expected_lines SELECT * FROM i" ;;
        2) q="WITH x AS (DELETE FROM public.lines WHERE doc = $d AND seq = $(((n + 1) % 10)) RETURNING *) DELETE FROM public.expected_lines e USING x WHERE e.doc = x.doc AND e.seq = x.seq" ;;
        esac
        psql -X -q -c "$q" >/dev/null || echo "lines writer failed: $q" >>"$PARTMIG_TEST_DIR/lines.err"
    done
) &
lpid=$!
sleep 0.5
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply converts tables whose key columns carry partmig's names ($ERR)"
sleep 0.3
touch "$STOP"
wait "$wpid"
assert_eq "$?" 0 "the writer never failed"
wait "$lpid"
assert_eq "$(cat "$PARTMIG_TEST_DIR/lines.err" 2>/dev/null)" "" "the (doc, seq) writer never failed"
cat "$PARTMIG_TEST_DIR/writer.out"
fp() { psql_q "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM public.$1 t"; }
for t in lines weird; do
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.$t'::regclass")" p "$t is partitioned"
    assert_eq "$(fp "$t")" "$(fp "expected_$t")" "$t holds exactly what was committed"
done
assert_eq "$(psql_q "SELECT shadow_name || ' ' || kept_name FROM partmig.conversions WHERE table_name = 'lines'")" "lines_partmig_new2 lines_partmig_old2" "fresh names beside the user's tables"
assert_eq "$(psql_q "SELECT x FROM public.lines_partmig_new")" 42 "the user's table with the shadow's usual name is untouched"
id=$(psql_q "SELECT id FROM partmig.conversions WHERE table_name = 'lines'")
assert_eq "$(psql_q "SELECT count(*) FROM public.lines_partmig_old2 o FULL JOIN public.lines n USING (doc, seq) WHERE (o.*) IS DISTINCT FROM (n.*) AND NOT EXISTS (SELECT 1 FROM partmig.conv_${id}_undo u WHERE (u.doc, u.seq) = (coalesce(o.doc, n.doc), coalesce(o.seq, n.seq))) AND NOT EXISTS (SELECT 1 FROM public.lines n2 WHERE (n2.doc, n2.seq) = (coalesce(o.doc, n.doc), coalesce(o.seq, n.seq)) AND $(written_since_swap "$id" n2))")" 0 "the old table is kept under the fresh name, as the new one is but for the keys written since the swap"
run_cmd "$PARTMIG" rollback --to 0 -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "rollback ($ERR)"
assert_eq "$(fp lines)" "$(fp expected_lines)" "lines after rollback holds every committed row"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.lines'::regclass")" r "lines plain again"
assert_eq "$(psql_q "SELECT x FROM public.lines_partmig_new")" 42 "rollback leaves the user's table alone"

# attach: a constraint under the name partmig needs is refused, nothing recorded
run_cmd "$PARTMIG" compile "$PARTMIG_TEST_DIR/pol2" -o "$PARTMIG_TEST_DIR/mig2"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig2"
assert_eq "$RC" 2 "attach refuses when its constraint name is taken"
assert_contains "$ERR" 'constraint "att_partmig_range" exists' "the message names the taken constraint"
assert_eq "$(psql_q "SELECT count(*) FROM partmig.conversions WHERE table_name = 'att'")" 0 "no conversion recorded"
assert_eq "$(psql_q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'att_partmig_range'")" "CHECK ((id > 0))" "the user's constraint is untouched"
# a relation under the name of a partition the conversion would create (a
# database of its own: the migrations directory starts at 0001 again)
psql_q "CREATE DATABASE d3"
export PGDATABASE=d3
psql_q "CREATE TABLE public.att2 (id bigserial PRIMARY KEY, created timestamptz NOT NULL DEFAULT now());
        INSERT INTO public.att2 DEFAULT VALUES"
taken=$(psql_q "SELECT 'att2_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM')")
psql_q "CREATE TABLE public.$taken (y int)"
mkdir -p "$PARTMIG_TEST_DIR/pol3"
cat >"$PARTMIG_TEST_DIR/pol3/b.lua" <<'LUA'
partition "att2" { column = "created", interval = "1 month", primary_key = { "id", "created" },
  existing = { method = "copy" } }
LUA
run_cmd "$PARTMIG" compile "$PARTMIG_TEST_DIR/pol3" -o "$PARTMIG_TEST_DIR/mig3"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig3"
assert_eq "$RC" 2 "a table under a partition's name is refused"
assert_contains "$ERR" "relation \"$taken\" (relkind 'r') exists and has the name of a partition" "the message names it"
assert_eq "$(psql_q "SELECT count(*) FROM partmig.conversions WHERE table_name = 'att2'")" 0 "no conversion recorded"
assert_done
