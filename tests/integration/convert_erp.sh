#!/usr/bin/env bash
# convert_erp.sh: the seed scenario end to end.  The three ERP tables (a few
# hundred thousand rows) are converted by `partmig apply` while writers
# insert, update (also the partition key) and delete; afterwards each table
# holds exactly what the writers committed (fingerprint against the writers'
# own record and against the old table kept for rollback), no DEFAULT rows,
# batches are in the ledger; then rollback after the swap loses nothing, and
# finalize drops the old table only after verifying it.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
W="$PARTMIG_TOOLS/tools/convert_writer"
[ -x "$W" ] || W="$PARTMIG_TOOLS/convert_writer"
TABLES="journal_entries:created_at audit_logs:created_at workflow_logs:run_at"
# TABLE's rows but those whose key conversion ID changed since the swap:
# in its undo log, or on a row of its new table NEW written since
fingerprint_unlogged() { psql_q "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM public.$1 t WHERE NOT EXISTS (SELECT 1 FROM partmig.conv_$2_undo u WHERE u.id = t.id) AND NOT EXISTS (SELECT 1 FROM public.$3 n WHERE n.id = t.id AND $(written_since_swap "$2" n))"; }

psql -X -q -v ON_ERROR_STOP=1 -f tests/fixtures/erp_schema.sql
bash tests/fixtures/erp_data.sh 160000 60000 40000 >/dev/null
for tc in $TABLES; do
    t=${tc%%:*}
    psql_q "CREATE TABLE public.expected_$t AS SELECT * FROM public.$t; ALTER TABLE public.expected_$t ADD PRIMARY KEY (id)"
done

MIG="$PARTMIG_TEST_DIR/migrations"
run_cmd "$PARTMIG" compile policies/erp.lua -o "$MIG"
assert_eq "$RC" 0 "compile policies/erp.lua ($ERR)"

# writers run through the whole conversion and the swap
STOP="$PARTMIG_TEST_DIR/stop"
pids=()
i=0
for tc in $TABLES; do
    i=$((i + 1))
    "$W" "${tc%%:*}" "${tc##*:}" "$STOP" "$i" >"$PARTMIG_TEST_DIR/writer$i.out" 2>&1 &
    pids+=($!)
done
sleep 1
start=$(date +%s.%N)
run_cmd "$PARTMIG" apply -d "$MIG" --jobs 2 --batch-size 20000
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
assert_eq "$RC" 0 "apply converts the three tables ($ERR)"
echo "$OUT" | tail -n 12
sleep 1
touch "$STOP"
wrc=0
for p in "${pids[@]}"; do wait "$p" || wrc=1; done
cat "$PARTMIG_TEST_DIR"/writer*.out
assert_eq "$wrc" 0 "no writer statement failed during the conversion"
maxstall=$(cat "$PARTMIG_TEST_DIR"/writer*.out | sed -n 's/.*max_ms=\([0-9.]*\).*/\1/p' | sort -n | tail -1)
echo "conversion of 3 tables took ${elapsed}s; longest writer stall: ${maxstall} ms"
assert_eq "$(echo "$maxstall < 1000" | bc)" 1 "longest writer stall under 1 s (${maxstall} ms)"

for tc in $TABLES; do
    t=${tc%%:*}
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.$t'::regclass")" p "$t is partitioned"
    got=$(fingerprint "$t")
    assert_eq "$got" "$(fingerprint "expected_$t")" "$t holds exactly what the writers committed"
    # the rollback point: the old table as it was at the swap, the undo
    # log naming the keys deleted or moved since, the rest newer than the horizon
    id=$(psql_q "SELECT id FROM partmig.conversions WHERE table_name = '$t' ORDER BY id DESC LIMIT 1")
    assert_eq "$(fingerprint_unlogged "${t}_partmig_old" "$id" "$t")" "$(fingerprint_unlogged "$t" "$id" "$t")" "the kept old table of $t equals it on every key not changed since the swap (rollback point)"
    assert_eq "$(psql_q "SELECT count(*) FROM pg_partition_tree('public.$t') t JOIN pg_class c ON c.oid = t.relid WHERE c.relpartbound IS NOT NULL AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'")" 0 "$t has no DEFAULT partition to hide rows in"
    assert_eq "$(psql_q "SELECT count(*) FROM ONLY public.$t")" 0 "no row sits in the parent of $t"
    b=$(psql_q "SELECT count(*) > 1 AND bool_and(source_rows = copied_rows AND copied_rows = target_rows) AND sum(copied_rows) > 0 FROM partmig.batches b JOIN partmig.conversions c ON c.id = b.conversion WHERE c.table_name = '$t'")
    assert_eq "$b" t "batches of $t recorded in the ledger with equal counts"
    assert_eq "$(psql_q "SELECT state FROM partmig.conversions WHERE table_name = '$t' ORDER BY id DESC LIMIT 1")" swapped "$t conversion state"
done
assert_eq "$(psql_q "SELECT count(DISTINCT job) FROM partmig.batches")" 2 "--jobs 2 copied in two parallel jobs"
psql -X -c "SELECT c.table_name, count(*) AS batches, sum(copied_rows) AS rows, round(sum(ms)) AS ms, max(c.swap_ms) AS swap_ms FROM partmig.batches b JOIN partmig.conversions c ON c.id = b.conversion GROUP BY 1 ORDER BY 1"

# the sequence now belongs to the new table, which keeps numbering
assert_eq "$(psql_q "SELECT pg_get_serial_sequence('public.journal_entries', 'id')")" public.journal_entries_id_seq "sequence moved to the new table"

# rollback after the swap: rows written since are in the old table again
psql_q "INSERT INTO public.journal_entries (tenant_id, account, amount, created_at) VALUES (7, 'after-swap', 1.00, now())"
psql_q "INSERT INTO public.expected_journal_entries SELECT * FROM public.journal_entries WHERE account = 'after-swap'"
psql_q "DELETE FROM public.audit_logs WHERE id IN (SELECT id FROM public.audit_logs ORDER BY id LIMIT 5)"
psql_q "DELETE FROM public.expected_audit_logs WHERE id IN (SELECT id FROM public.expected_audit_logs ORDER BY id LIMIT 5)"
run_cmd "$PARTMIG" rollback --to 0 -d "$MIG"
assert_eq "$RC" 0 "rollback --to 0 ($ERR)"
for tc in $TABLES; do
    t=${tc%%:*}
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.$t'::regclass")" r "$t is a plain table again"
    assert_eq "$(fingerprint "$t")" "$(fingerprint "expected_$t")" "$t after rollback holds every committed row"
done
assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE relname LIKE '%partmig%'")" 0 "rollback leaves no partmig table behind"

# apply again, then finalize: verified, old table dropped, recorded
run_cmd "$PARTMIG" apply -d "$MIG"
assert_eq "$RC" 0 "apply again after rollback ($ERR)"
run_cmd "$PARTMIG" finalize public.journal_entries
assert_eq "$RC" 0 "finalize ($ERR)"
assert_contains "$ERR" "verified" "finalize verifies before dropping"
assert_eq "$(psql_q "SELECT to_regclass('public.journal_entries_partmig_old') IS NULL")" t "finalize dropped the old table"
assert_eq "$(psql_q "SELECT state || ':' || (rows_verified > 0)::text FROM partmig.conversions WHERE table_name = 'journal_entries' ORDER BY id DESC LIMIT 1")" finalized:true "finalize recorded in the ledger"
assert_eq "$(psql_q "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.journal_entries'::regclass AND tgname LIKE 'partmig%'")" 0 "finalize removed the mirror"
assert_eq "$(fingerprint journal_entries)" "$(fingerprint expected_journal_entries)" "journal_entries intact after finalize"
run_cmd "$PARTMIG" finalize public.nosuch
assert_eq "$RC" 1 "finalize of an unconverted table is refused"
# a tampered old table fails verification and is not dropped
psql_q "DELETE FROM public.audit_logs_partmig_old WHERE id = (SELECT min(id) FROM public.audit_logs_partmig_old)"
run_cmd "$PARTMIG" finalize audit_logs
assert_eq "$RC" 1 "finalize refuses when counts differ"
assert_contains "$ERR" "verification failed" "finalize names the failed verification"
assert_eq "$(psql_q "SELECT to_regclass('public.audit_logs_partmig_old') IS NOT NULL")" t "old table kept after a failed verification"
assert_done
