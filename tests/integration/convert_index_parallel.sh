#!/usr/bin/env bash
# convert_index_parallel.sh: the copy method builds the new table's indexes
# partition by partition over the --jobs connections (primary key, the old
# table's other indexes, ANALYZE: one transaction per partition), then
# attaches them to the parent's.  An apply killed while some partitions
# have their indexes and others wait resumes: no partition ends with a
# second copy of an index, every one is attached, the parent's are valid,
# and every partition and the parent have statistics.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "log_statement = 'all'" "log_line_prefix = '%p %a: '"
LOG="$PARTMIG_TEST_DIR/server.log"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.ledger (id bigserial PRIMARY KEY, tenant_id int NOT NULL, amount numeric,
    created_at timestamptz NOT NULL);
INSERT INTO public.ledger (tenant_id, amount, created_at)
  SELECT g % 300, g, timestamptz '2024-01-01' + (g % 360) * interval '1 day' FROM generate_series(1, 60000) g;
CREATE INDEX ledger_tenant_id_created_at_idx ON public.ledger (tenant_id, created_at);
CREATE UNIQUE INDEX ledger_amount_created_at_key ON public.ledger (amount, created_at);
ANALYZE public.ledger;
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/l.lua" <<'LUA'
partition "ledger" { column = "created_at", interval = "1 month", premake = 1, start = "2024-01-01",
  primary_key = { "id", "created_at" }, existing = { method = "copy", jobs = 2 } }
LUA
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"

# hold one partition of the new table once it exists (ROW EXCLUSIVE: the
# copy's inserts go on, an index build waits), so the index phase stops
# there; kill apply while it waits.  Small batches with a pause keep the
# copy going for a few seconds.
part=ledger_p2024_07
(
    for _ in $(seq 1 600); do
        if [ -n "$(psql -X -A -t -c "SELECT to_regclass('public.$part')" 2>/dev/null)" ]; then
            break
        fi
        sleep 0.05
    done
    psql -X -q -c "BEGIN; LOCK TABLE public.$part IN ROW EXCLUSIVE MODE; SELECT pg_sleep(600)" >/dev/null 2>&1
) &
HOLDER=$!
"$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --batch-size 5000 --sleep 200 >"$PARTMIG_TEST_DIR/apply1.out" 2>&1 &
APPLY=$!
# wait until the index phase waits for the held partition
waited=0
for _ in $(seq 1 600); do
    if [ "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'partmig index' AND wait_event_type = 'Lock'")" -ge 1 ]; then
        waited=1
        break
    fi
    sleep 0.1
done
assert_eq "$(psql_q "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.relation = 'public.$part'::regclass AND l.granted AND a.query LIKE '%pg_sleep(600)%'")" 1 "the partition is held"
assert_eq "$waited" 1 "the index phase reaches the held partition ($(tail -3 "$PARTMIG_TEST_DIR/apply1.out"))"
# the other job goes on: some partitions have their primary key already
for _ in $(seq 1 100); do
    built=$(psql_q "SELECT count(*) FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indrelid WHERE h.inhparent = 'public.ledger_partmig_new'::regclass AND i.indisprimary")
    [ "$built" -ge 3 ] && break
    sleep 0.1
done
assert_ge() { if [ "$1" -ge "$2" ]; then assert_eq 1 1 "$3"; else assert_eq "$1" ">= $2" "$3"; fi; }
assert_ge "$built" 3 "other partitions got their primary key on the other connection meanwhile"
assert_ge "$(grep -E "^[0-9]+ partmig index: .*statement: ALTER TABLE \"public\".\"ledger_p[0-9_]+\" ADD CONSTRAINT" "$LOG" | awk '{print $1}' | sort -u | wc -l)" 2 "per-partition primary keys came from two connections"
kill -9 "$APPLY" 2>/dev/null
wait "$APPLY" 2>/dev/null
pkill_holder() { kill "$HOLDER" 2>/dev/null; psql_q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()" >/dev/null; }
pkill_holder
wait "$HOLDER" 2>/dev/null
# the killed apply's backends end when the server notices
for _ in $(seq 1 100); do
    [ "$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'partmig%'")" = 0 ] && break
    sleep 0.1
done

run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply resumes and converts ($ERR)"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.ledger'::regclass")" p "ledger is partitioned"
nparts=$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.ledger'::regclass")
for ix in ledger_pkey ledger_tenant_id_created_at_idx ledger_amount_created_at_key; do
    assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.$ix'::regclass")" "$nparts" "every partition's $ix attached"
    assert_eq "$(psql_q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.$ix'::regclass")" t "$ix valid"
done
assert_eq "$(psql_q "SELECT count(*) FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indrelid WHERE h.inhparent = 'public.ledger'::regclass")" "$((3 * nparts))" "three indexes per partition, none twice"
assert_eq "$(psql_q "SELECT count(*) FROM pg_constraint c JOIN pg_inherits h ON h.inhrelid = c.conrelid WHERE h.inhparent = 'public.ledger'::regclass AND c.contype = 'p' AND c.conparentid <> 0")" "$nparts" "each partition's primary key belongs to the parent's"
assert_eq "$(psql_q "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'public.$part'::regclass AND indisprimary")" "${part}_pkey" "partition indexes take PostgreSQL's names"
assert_eq "$(psql_q "SELECT count(*) FROM pg_class c JOIN pg_inherits h ON h.inhrelid = c.oid WHERE h.inhparent = 'public.ledger'::regclass AND c.reltuples > 0 AND NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = 'public' AND s.tablename = c.relname AND s.attname = 'tenant_id')")" 0 "every partition with rows has statistics"
assert_eq "$(psql_q "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'ledger' AND attname = 'tenant_id' AND inherited")" 1 "the parent has statistics"
assert_eq "$(psql_q "SELECT count(*) FROM public.ledger")" 60000 "every row"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply again ($ERR)"
assert_done
