# runtime_resume.sh: no dirty flag -- after kill -9 of partmig at random
# moments, a PostgreSQL restart mid-apply, or an interrupted CREATE INDEX
# CONCURRENTLY, the next apply continues and nothing runs twice.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
FIX="$PARTMIG_SOURCE/tests/fixtures/runtime"
D="$PARTMIG_TEST_DIR/migs"
mkdir -p "$D"
cp "$FIX/basic/0001_events.sql" "$FIX/extra/0002_slow.sql" "$D/"
"$PARTMIG_TOOLS/runtime_sum" "$D" || fail "runtime_sum"

# ---- kill -9 at random moments; each rerun continues
for round in 1 2 3 4; do
    delay=$(python3 -c "import random; print(round(random.uniform(0.05, 0.6), 3))")
    "$PARTMIG" apply -d "$D" --wait 10 >"$PARTMIG_TEST_DIR/round$round.out" 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "round $round: killed after ${delay}s; steps done so far: $(psql_q "select count(*) from partmig.steps where state = 'done'" 2>/dev/null)"
done
run_cmd "$PARTMIG" apply -d "$D" --wait 10
assert_eq "$RC" 0 "apply after kill -9 completes: $ERR"
assert_eq "$(psql_q "select string_agg(step::text, ',' order by step) from public.runlog")" "2,3,4,5,6,7,8,9,10" "every step's effect exactly once"
assert_eq "$(psql_q "select count(*) from partmig.steps where state <> 'done'")" 0 "every step done in the ledger"
assert_eq "$(psql_q "select string_agg(version || ':' || state, ' ' order by version) from partmig.migrations")" "1:applied 2:applied" "both migrations applied"
assert_eq "$(psql_q "select count(*) from pg_index x join pg_class c on c.oid = x.indexrelid where c.relname like 'events%tenant_id_idx' and not x.indisvalid")" 0 "no invalid index left"
run_cmd "$PARTMIG" verify -d "$D"
assert_eq "$RC" 0 "verify after resume: $ERR"

# ---- PostgreSQL restarts in the middle of an apply
psql_q "set client_min_messages = warning; drop schema partmig cascade; drop table public.events, public.runlog"
"$PARTMIG" apply -d "$D" >"$PARTMIG_TEST_DIR/restart.out" 2>&1 &
pid=$!
sleep 0.6
pg_restart
wait "$pid"
rc=$?
assert_eq "$rc" 1 "apply interrupted by a server restart: exit 1"
done_before=$(psql_q "select count(*) from partmig.steps where state = 'done'")
echo "steps done before the restart: $done_before"
run_cmd "$PARTMIG" apply -d "$D"
assert_eq "$RC" 0 "apply after the restart completes: $ERR"
assert_eq "$(psql_q "select string_agg(step::text, ',' order by step) from public.runlog")" "2,3,4,5,6,7,8,9,10" "after a restart: every step exactly once"
assert_eq "$(psql_q "select count(*) from partmig.steps where state <> 'done'")" 0 "after a restart: every step done"

# ---- an INVALID index left by an interrupted CREATE INDEX CONCURRENTLY
psql_q "set client_min_messages = warning; drop schema partmig cascade; drop table public.events, public.runlog"
run_cmd "$PARTMIG" apply -d "$D" --to 1
assert_eq "$RC" 0 "apply version 1: $ERR"
# back to "crashed while building the index on events_p2026_06": parent index
# without attached partitions, an INVALID index of the expected name, ledger
# step 5 still running
psql_q "drop index public.events_tenant_id_idx"
psql_q "create index events_tenant_id_idx on only public.events (tenant_id)"
psql_q "insert into public.events (created_at, tenant_id) values ('2026-06-02', 7), ('2026-06-03', 7)"
psql -X -q -c "create unique index concurrently events_p2026_06_tenant_id_idx on public.events_p2026_06 (tenant_id)" 2>/dev/null
assert_eq "$(psql_q "select indisvalid from pg_index where indexrelid = 'public.events_p2026_06_tenant_id_idx'::regclass")" f "an INVALID index is there"
old_oid=$(psql_q "select 'public.events_p2026_06_tenant_id_idx'::regclass::oid")
psql_q "update partmig.steps set state = 'running', finished_at = null where version = 1 and step in (5, 6); update partmig.migrations set state = 'running'"
run_cmd "$PARTMIG" apply -d "$D" --to 1
assert_eq "$RC" 0 "apply rebuilds the invalid index: $ERR"
assert_eq "$(psql_q "select indisvalid from pg_index where indexrelid = 'public.events_p2026_06_tenant_id_idx'::regclass")" t "rebuilt index is valid"
assert_eq "$(psql_q "select indisunique from pg_index where indexrelid = 'public.events_p2026_06_tenant_id_idx'::regclass")" f "rebuilt as the parent defines it"
assert_eq "$([ "$(psql_q "select 'public.events_p2026_06_tenant_id_idx'::regclass::oid")" != "$old_oid" ] && echo new)" new "the invalid index was dropped and rebuilt"
assert_eq "$(psql_q "select indisvalid from pg_index where indexrelid = 'public.events_tenant_id_idx'::regclass")" t "parent index valid: every partition attached"
run_cmd "$PARTMIG" verify -d "$D"
assert_eq "$RC" 0 "verify after the rebuild: $ERR"
assert_done
