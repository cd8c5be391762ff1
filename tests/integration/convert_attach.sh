#!/usr/bin/env bash
# convert_attach.sh: existing.method = "attach" converts without copying:
# the old table (same OID, same storage) becomes the first partition, new
# partitions start above its range, writes go on; rollback detaches it back
# with the rows written since.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
psql -X -q -v ON_ERROR_STOP=1 -f tests/fixtures/erp_schema.sql
bash tests/fixtures/erp_data.sh 100000 1000 1000 >/dev/null
oid=$(psql_q "SELECT 'public.journal_entries'::regclass::oid")
node=$(psql_q "SELECT pg_relation_filenode('public.journal_entries')")
rows=$(psql_q "SELECT count(*) FROM public.journal_entries")
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/je.lua" <<'LUA'
partition "journal_entries" { column = "created_at", interval = "1 month", premake = 2,
  primary_key = { "id", "created_at" }, existing = { method = "attach" } }
LUA
"$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig" >/dev/null
STOP="$PARTMIG_TEST_DIR/stop"
psql_q "CREATE TABLE public.expected_journal_entries AS SELECT * FROM public.journal_entries"
"$PARTMIG_TOOLS/convert_writer" journal_entries created_at "$STOP" 3 >"$PARTMIG_TEST_DIR/writer.out" 2>&1 &
wpid=$!
sleep 0.5
start=$(date +%s.%N)
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
assert_eq "$(psql_q "SELECT state FROM partmig.conversions")" swapped "attach conversion done ($ERR)"
# premake skips the ranges the attached table covers: the whole apply succeeds
assert_eq "$RC" 0 "apply with an attach conversion succeeds ($ERR)"
touch "$STOP"
wait "$wpid"
assert_eq "$?" 0 "writer never failed"
cat "$PARTMIG_TEST_DIR/writer.out"
echo "attach of $rows rows took ${elapsed}s; swap $(psql_q "SELECT round(swap_ms::numeric, 1) FROM partmig.conversions") ms"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.journal_entries'::regclass")" p "journal_entries is partitioned"
assert_eq "$(psql_q "SELECT count(*) > 0 FROM pg_stats WHERE schemaname = 'public' AND tablename = 'journal_entries' AND inherited")" t \
    "the partitioned table has statistics (autovacuum never analyzes a parent)"
first=$(psql_q "SELECT c.oid FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.journal_entries'::regclass AND c.relname = 'journal_entries_legacy'")
assert_eq "$first" "$oid" "the old table's OID is the first partition"
assert_eq "$(psql_q "SELECT pg_relation_filenode('public.journal_entries_legacy')")" "$node" "same storage: nothing was rewritten"
fp() { psql_q "SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY t.id)) FROM public.$1 t"; }
assert_eq "$(fp journal_entries)" "$(fp expected_journal_entries)" "rows are exactly what the writer committed"
assert_eq "$(psql_q "SELECT count(*) > 1 FROM pg_inherits WHERE inhparent = 'public.journal_entries'::regclass")" t "premade partitions above the old range"
psql_q "INSERT INTO public.journal_entries (tenant_id, account, amount, created_at) VALUES (1, 'future', 1, now() + interval '70 days')"
assert_eq "$(psql_q "SELECT tableoid::regclass::text <> 'journal_entries_legacy' FROM public.journal_entries WHERE account = 'future'")" t "new rows above the range go to a new partition"
run_cmd "$PARTMIG" rollback --to 0 -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "rollback detaches ($ERR)"
assert_eq "$(psql_q "SELECT 'public.journal_entries'::regclass::oid")" "$oid" "the original table is back under its name"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = $oid")" r "plain again"
assert_eq "$(psql_q "SELECT count(*) FROM public.journal_entries WHERE account = 'future'")" 1 "rows written after the attach are carried back"
assert_eq "$(psql_q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $oid AND contype = 'p'")" "PRIMARY KEY (id)" "original primary key in place"
assert_done
