#!/usr/bin/env bash
# convert_resume.sh: kill -9 of partmig and a PostgreSQL restart in the
# middle of the backfill; the next apply resumes after the last recorded
# batch and every row is present exactly once.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
psql -X -q -v ON_ERROR_STOP=1 -f tests/fixtures/erp_schema.sql
bash tests/fixtures/erp_data.sh 120000 2000 2000 >/dev/null
MIG="$PARTMIG_TEST_DIR/mig"
"$PARTMIG" compile policies/erp.lua -o "$MIG" >/dev/null
fp() { psql_q "SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY t.id)) FROM public.$1 t"; }
want=$(fp journal_entries)
batches() { psql_q "SELECT count(*) FROM partmig.batches" 2>/dev/null || echo 0; }
wait_batches() { for _ in $(seq 1 200); do [ "$(batches)" -ge "$1" ] && return 0; sleep 0.1; done; return 1; }

# kill -9 mid-backfill
"$PARTMIG" apply -d "$MIG" --batch-size 4000 --sleep 100 >"$PARTMIG_TEST_DIR/a1.out" 2>&1 &
pid=$!
wait_batches 5
kill -9 "$pid"
wait "$pid" 2>/dev/null
n1=$(batches)
assert_eq "$(psql_q "SELECT state FROM partmig.conversions WHERE table_name = 'journal_entries'")" backfilling "killed in the backfill"
echo "killed after $n1 batches"
# pg restart mid-backfill of the resumed run
"$PARTMIG" apply -d "$MIG" --batch-size 4000 --sleep 100 >"$PARTMIG_TEST_DIR/a2.out" 2>&1 &
pid=$!
wait_batches $((n1 + 4))
pg_restart
wait "$pid"
assert_eq "$([ $? -ne 0 ] && echo failed)" failed "apply failed when the server went away"
n2=$(batches)
echo "server restarted after $n2 batches"
assert_eq "$(echo "$n2 > $n1" | bc)" 1 "the second run continued the copy"
run_cmd "$PARTMIG" apply -d "$MIG" --batch-size 20000
assert_eq "$RC" 0 "apply finishes the conversion ($ERR)"
assert_eq "$(fp journal_entries)" "$want" "every row present exactly once"
assert_eq "$(psql_q "SELECT count(*) FROM (SELECT id FROM public.journal_entries GROUP BY id HAVING count(*) > 1) d")" 0 "no duplicate ids"
b=$(psql_q "SELECT sum(copied_rows) FROM partmig.batches b JOIN partmig.conversions c ON c.id = b.conversion WHERE c.table_name = 'journal_entries'")
assert_eq "$b" 120000 "batches recorded each row once ($b)"
assert_eq "$(psql_q "SELECT count(*) FROM (SELECT key_hi FROM partmig.batches GROUP BY conversion, job, key_hi HAVING count(*) > 1) d")" 0 "no batch copied twice"
assert_done
