# runtime_apply.sh: apply, plan/--dry-run, re-apply, tampering, status --json,
# verify and rollback against a throwaway PostgreSQL 15.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
FIX="$PARTMIG_SOURCE/tests/fixtures/runtime"
SUM="$PARTMIG_TOOLS/runtime_sum"
D="$PARTMIG_TEST_DIR/migs"
mkdir -p "$D"
cp "$FIX/basic/0001_events.sql" "$FIX/extra/0002_slow.sql" "$D/"
"$SUM" "$D" || fail "runtime_sum"

# ---- plan and --dry-run change nothing, not even the ledger schema
run_cmd "$PARTMIG" plan -d "$D"
assert_eq "$RC" 0 "plan exit code"
assert_contains "$OUT" 'CREATE TABLE IF NOT EXISTS "public"."events_p2026_11" PARTITION OF' "plan shows premake partition for now"
assert_contains "$OUT" "premake window [2026-06-01," "plan shows the premake window"
assert_contains "$OUT" 'INSERT INTO "public"."runlog"' "plan shows step SQL"
run_cmd "$PARTMIG" apply --dry-run -d "$D"
assert_eq "$RC" 0 "dry-run exit code"
assert_contains "$OUT" "nothing was changed" "dry-run says so"
assert_eq "$(psql_q "select count(*) from pg_namespace where nspname = 'partmig'")" 0 "dry-run created no ledger"
assert_eq "$(psql_q "select count(*) from pg_class where relname like 'events%'")" 0 "dry-run created no table"

# ---- fresh apply up to version 1
run_cmd "$PARTMIG" apply -d "$D" --to 1
assert_eq "$RC" 0 "apply --to 1 exit code: $ERR"
assert_contains "$OUT" "applied 1 migration(s), 6 step(s)" "apply summary"
assert_eq "$(psql_q "select relkind from pg_class where oid = 'public.events'::regclass")" p "events is partitioned"
# current month + 3 ahead, from the policy start 2026-06-01 (server clock is "now")
want_last=$(psql_q "select to_char(date_trunc('month', now() at time zone 'UTC') + interval '3 months', 'YYYY_MM')")
assert_eq "$(psql_q "select count(*) from pg_class where relname = 'events_p$want_last'")" 1 "premake reaches now + 3 months"
nparts=$(psql_q "select count(*) from pg_inherits where inhparent = 'public.events'::regclass")
want_parts=$(psql_q "select (extract(year from age(date_trunc('month', now() at time zone 'UTC') + interval '3 months', '2026-06-01')) * 12 + extract(month from age(date_trunc('month', now() at time zone 'UTC') + interval '3 months', '2026-06-01')))::int + 1")
assert_eq "$nparts" "$want_parts" "partition count from start to now + premake"
assert_eq "$(psql_q "select pg_get_expr(relpartbound, oid) from pg_class where relname = 'events_p2026_07'")" \
    "FOR VALUES FROM ('2026-07-01 00:00:00+00') TO ('2026-08-01 00:00:00+00')" "bound of a premade partition"
assert_eq "$(psql_q "select string_agg(step || ':' || action || ':' || state || ':' || attempts, ' ' order by step) from partmig.steps where version = 1")" \
    "1:ensure_table:done:1 2:sql:done:1 3:premake:done:1 4:sql:done:1 5:build_index:done:1 6:register:done:1" "ledger steps"
assert_eq "$(psql_q "select state || ':' || name from partmig.migrations")" "applied:events" "ledger migration row"
assert_eq "$(psql_q "select checksum from partmig.migrations where version = 1")" "$(sha256sum "$D/0001_events.sql" | cut -d' ' -f1)" "ledger checksum is the file's"
assert_eq "$(psql_q "select count(*) from pg_index x join pg_inherits h on h.inhrelid = x.indexrelid where h.inhparent = 'public.events_tenant_id_idx'::regclass and x.indisvalid")" "$nparts" "index attached on every partition"
assert_eq "$(psql_q "select indisvalid from pg_index where indexrelid = 'public.events_tenant_id_idx'::regclass")" t "parent index valid"
assert_eq "$(psql_q "select policy->>'table' || ':' || version from partmig.policies")" "events:1" "policy registered"
assert_eq "$(psql_q "select value from partmig.meta where key = 'ledger_version'")" 2 "ledger version recorded"

# ---- the rest, then re-apply is a no-op
run_cmd "$PARTMIG" apply -d "$D"
assert_eq "$RC" 0 "apply version 2: $ERR"
before=$(psql_q "select string_agg(version || ':' || step || ':' || attempts || ':' || finished_at, ' ' order by version, step) from partmig.steps")
run_cmd "$PARTMIG" apply -d "$D"
assert_eq "$RC" 0 "re-apply exit code"
assert_contains "$OUT" "nothing to apply" "re-apply says nothing to do"
assert_eq "$(psql_q "select string_agg(version || ':' || step || ':' || attempts || ':' || finished_at, ' ' order by version, step) from partmig.steps")" "$before" "re-apply changed no ledger row"
assert_eq "$(psql_q "select count(*) from public.runlog")" 9 "each slow step ran once"

# ---- status --json
run_cmd "$PARTMIG" status -d "$D" --json
assert_eq "$RC" 0 "status exit code"
printf '%s' "$OUT" >"$PARTMIG_TEST_DIR/status.json"
run_cmd python3 - "$PARTMIG_TEST_DIR/status.json" "$nparts" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert [m["version"] + ":" + m["state"] for m in d["migrations"]] == ["0001:applied", "0002:applied"], d["migrations"]
t = [t for t in d["tables"] if t["table"] == "public.events"]
assert len(t) == 1, d["tables"]
t = t[0]
assert len(t["partitions"]) == int(sys.argv[2]), len(t["partitions"])
p = t["partitions"][0]
assert set(["name", "from", "to", "rows", "bytes", "tablespace"]) <= set(p), p
assert p["name"] == "events_p2026_06" and p["from"].startswith("2026-06-01") and p["to"].startswith("2026-07-01"), p
assert p["tablespace"] == "pg_default" and p["bytes"] > 0, p
assert t["default_rows"] == 0 and t["gaps"] == [] and t["premake"]["ok"] is True, t
print("ok")
PY
assert_eq "$RC" 0 "status JSON fields: $ERR"
psql_q "insert into public.events (created_at, tenant_id) select '2026-07-01'::timestamptz + i * interval '1 minute', 1 from generate_series(1, 250) i"
run_cmd "$PARTMIG" status -d "$D" --json
assert_eq "$(printf '%s' "$OUT" | python3 -c 'import json,sys; d=json.load(sys.stdin); print([p["rows"] for p in d["tables"][0]["partitions"] if p["name"]=="events_p2026_07"][0])')" 250 "status rows of a partition"
run_cmd "$PARTMIG" status -d "$D"
assert_contains "$OUT" "events_p2026_07" "human status lists partitions"
assert_contains "$OUT" "0002  slow" "human status lists migrations"

# ---- verify: clean, then a dropped partition is caught
run_cmd "$PARTMIG" verify -d "$D"
assert_eq "$RC" 0 "verify on a clean database: $ERR"
psql_q "drop table public.events_p2026_09"
run_cmd "$PARTMIG" verify -d "$D"
assert_eq "$RC" 1 "verify exit code after a partition was dropped"
assert_contains "$ERR" 'partition "public.events_p2026_09"' "verify names the dropped partition"
assert_contains "$ERR" "missing" "verify says it is missing"
psql_q "create table public.events_p2026_09 partition of public.events for values from ('2026-09-01 00:00:00+00') to ('2026-09-15 00:00:00+00')"
run_cmd "$PARTMIG" verify -d "$D"
assert_eq "$RC" 1 "verify exit code for a wrong bound"
assert_contains "$ERR" "has bound" "verify reports a changed bound"
psql_q "drop table public.events_p2026_09; create table public.events_p2026_09 partition of public.events for values from ('2026-09-01 00:00:00+00') to ('2026-10-01 00:00:00+00')"
run_cmd "$PARTMIG" verify -d "$D"
assert_eq "$RC" 0 "verify is clean again: $ERR"

# ---- tampered file refused before anything runs
cp "$D/0001_events.sql" "$PARTMIG_TEST_DIR/orig.sql"
sed -i 's/parent index on tenant_id/parent index on tenant_id (edited)/' "$D/0001_events.sql"
run_cmd "$PARTMIG" apply -d "$D"
assert_eq "$RC" 2 "tampered file: exit 2"
assert_contains "$ERR" "0001_events.sql" "tampered file named"
"$SUM" "$D" # the sum now matches, the ledger checksum does not
run_cmd "$PARTMIG" apply -d "$D"
assert_eq "$RC" 2 "file changed after apply: exit 2"
assert_contains "$ERR" "0001_events.sql\" was changed after it was applied" "ledger checksum mismatch named"
run_cmd "$PARTMIG" verify -d "$D"
assert_eq "$RC" 1 "verify reports the changed file"
cp "$PARTMIG_TEST_DIR/orig.sql" "$D/0001_events.sql"
"$SUM" "$D"

# ---- rollback: refused at a point of no return, to a step, to 0
run_cmd "$PARTMIG" rollback -d "$D" --to 1
assert_eq "$RC" 2 "rollback across a point of no return refused"
assert_contains "$ERR" "0002:10" "refusal names version:step"
assert_eq "$(psql_q "select count(*) from public.runlog")" 9 "refused rollback changed nothing"
psql_q "select 1" >/dev/null
# step 10 is the point of no return: mark it as never applied by rolling back only later steps is impossible,
# so roll back to 0002:10 (nothing) and check the message, then drop it from the ledger via a fresh DB below
run_cmd "$PARTMIG" rollback -d "$D" --to 2:10
assert_eq "$RC" 0 "rollback to the last step is a no-op"
assert_contains "$OUT" "nothing to roll back" "no-op rollback says so"
# rollbacks of version 1 in a database where version 2 never ran
psql_q "set client_min_messages = warning; drop schema partmig cascade; drop table public.events, public.runlog"
run_cmd "$PARTMIG" apply -d "$D" --to 1
assert_eq "$RC" 0 "re-apply version 1 on a fresh schema: $ERR"
run_cmd "$PARTMIG" rollback -d "$D" --to 1:3
assert_eq "$RC" 0 "rollback --to 1:3: $ERR"
assert_eq "$(psql_q "select string_agg(step || ':' || state, ' ' order by step) from partmig.steps")" \
    "1:done 2:done 3:done 4:rolled_back 5:rolled_back 6:rolled_back" "ledger after rollback to 1:3"
assert_eq "$(psql_q "select count(*) from pg_class where relname = 'events_tenant_id_idx'")" 0 "index dropped"
assert_eq "$(psql_q "select count(*) from partmig.policies")" 0 "registration removed"
assert_eq "$(psql_q "select state from partmig.migrations")" rolled_back "migration marked rolled_back"
run_cmd "$PARTMIG" status -d "$D" --json
assert_contains "$OUT" '"state": "rolled_back"' "status shows rolled_back"
psql_q "insert into public.events (created_at, tenant_id) values ('2026-07-05', 1)"
run_cmd "$PARTMIG" rollback -d "$D" --to 0
assert_eq "$RC" 1 "rollback refuses to drop a partition with rows"
assert_contains "$ERR" "holds rows" "refusal says why"
assert_eq "$(psql_q "select count(*) from public.events")" 1 "the row is still there"
psql_q "delete from public.events"
run_cmd "$PARTMIG" rollback -d "$D" --to 0
assert_eq "$RC" 0 "rollback --to 0: $ERR"
assert_eq "$(psql_q "select count(*) from pg_class where relname like 'events%'")" 0 "everything undone"
assert_eq "$(psql_q "select count(*) from partmig.steps where state <> 'rolled_back'")" 0 "every step rolled_back"
run_cmd "$PARTMIG" apply -d "$D" --to 1
assert_eq "$RC" 0 "apply after rollback: $ERR"
assert_eq "$(psql_q "select count(*) from pg_inherits where inhparent = 'public.events'::regclass")" "$nparts" "partitions back after re-apply"
assert_eq "$(psql_q "select string_agg(attempts::text, ',' order by step) from partmig.steps")" "2,2,2,2,2,2" "attempts counted per apply"

# ---- usage and help
for c in plan apply status verify rollback; do
    run_cmd "$PARTMIG" $c --help
    assert_eq "$RC" 0 "$c --help"
    assert_contains "$OUT" "usage: partmig $c" "$c --help text"
done
run_cmd "$PARTMIG" apply --bogus
assert_eq "$RC" 2 "unknown option: exit 2"
run_cmd "$PARTMIG" rollback -d "$D"
assert_eq "$RC" 2 "rollback without --to: exit 2"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/nope"
assert_eq "$RC" 2 "missing directory: exit 2"
assert_done
