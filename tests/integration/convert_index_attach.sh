#!/usr/bin/env bash
# convert_index_attach.sh: after building every partition's indexes, the
# copy method makes each parent index on the whole new table, where
# PostgreSQL attaches the partitions' matching indexes in one statement,
# instead of one ALTER INDEX ... ATTACH PARTITION per partition and index.
# Two indexes of the same definition (the old table had a duplicate) keep
# the one-by-one ATTACH, so that each partition's index goes to the parent
# it was built for.  Either way every partition index is attached to its
# own parent (by name), the parents are valid, none is built twice.
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
  SELECT g % 300, g, timestamptz '2024-01-01' + (g % 40) * interval '1 day' FROM generate_series(1, 8000) g;
CREATE INDEX ledger_tenant_created_idx ON public.ledger (tenant_id, created_at);
CREATE INDEX ledger_tenant_created_dup ON public.ledger USING btree ("tenant_id", created_at);
CREATE UNIQUE INDEX ledger_amount_created_at_key ON public.ledger (amount, created_at);
ANALYZE public.ledger;
SQL
POL="$PARTMIG_TEST_DIR/policies"
mkdir -p "$POL"
cat >"$POL/l.lua" <<'LUA'
partition "ledger" { column = "created_at", interval = "1 week", premake = 0, start = "2024-01-01",
  primary_key = { "id", "created_at" }, indexes = { { columns = { "amount" } } },
  existing = { method = "copy", jobs = 2 } }
LUA
run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply ($ERR)"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.ledger'::regclass")" p "ledger is partitioned"
nparts=$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.ledger'::regclass")
assert_eq "$((nparts >= 6))" 1 "6 weekly partitions or more ($nparts)"

# the parents of a single definition: made on the whole table, no ATTACH
assert_eq "$(grep -c 'ADD CONSTRAINT "ledger_partmig_new_pkey" PRIMARY KEY' "$LOG")" 1 "the primary key made once"
assert_eq "$(grep -c 'ALTER TABLE "public"."ledger_partmig_new" ADD CONSTRAINT "ledger_partmig_new_pkey"' "$LOG")" 1 \
    "the primary key made on the whole table"
for ix in ledger_pkey ledger_amount_created_at_key ledger_amount_idx; do
    staged=$(grep -o "ALTER INDEX \"public\".\"[a-z0-9_]*\" RENAME TO \"$ix\"" "$LOG" | sed 's/ALTER INDEX "public"."\([a-z0-9_]*\)".*/\1/' | tail -1)
    assert_eq "$([ -n "$staged" ] && grep -c "ALTER INDEX \"public\".\"$staged\" ATTACH PARTITION" "$LOG")" 0 \
        "no ATTACH PARTITION for $ix ($staged)"
done
# the two of the same definition: attached one by one, each its own
assert_eq "$(grep -c 'ATTACH PARTITION' "$LOG")" "$((2 * nparts))" "ATTACH PARTITION for the two twin indexes only"

for ix in ledger_pkey ledger_tenant_created_idx ledger_tenant_created_dup ledger_amount_created_at_key ledger_amount_idx; do
    assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.$ix'::regclass")" "$nparts" "every partition's $ix attached"
    assert_eq "$(psql_q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.$ix'::regclass")" t "$ix valid"
done
# each partition index belongs to the parent it was named for
# ("<partition>_tenant_created_idx" to ledger_tenant_created_idx, ...)
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid JOIN pg_class p ON p.oid = h.inhparent
    WHERE p.relname IN ('ledger_tenant_created_idx', 'ledger_tenant_created_dup')
      AND right(c.relname, length(p.relname) - length('ledger')) <> substr(p.relname, length('ledger') + 1)")" 0 \
    "each twin's partition indexes attached to their own parent"
assert_eq "$(psql_q "SELECT count(*) FROM pg_index i JOIN pg_inherits h ON h.inhrelid = i.indrelid WHERE h.inhparent = 'public.ledger'::regclass")" \
    "$((5 * nparts))" "five indexes per partition, none twice"
assert_eq "$(psql_q "SELECT count(*) FROM pg_constraint c JOIN pg_inherits h ON h.inhrelid = c.conrelid WHERE h.inhparent = 'public.ledger'::regclass AND c.contype = 'p' AND c.conparentid <> 0")" \
    "$nparts" "each partition's primary key belongs to the parent's"
assert_eq "$(psql_q "SELECT count(*) FROM public.ledger")" 8000 "every row"
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "apply again ($ERR)"
assert_done
