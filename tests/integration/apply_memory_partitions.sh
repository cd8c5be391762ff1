#!/usr/bin/env bash
# apply_memory_partitions.sh: partmig's own memory during apply stays flat
# in the partition count: converting 20,000 rows into ~1,430 daily
# partitions (and verifying them) peaks under 30 MiB of resident memory
# (a resource bound, not a timing).
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
[ -x /usr/bin/time ] || { echo "apply_memory_partitions.sh: no /usr/bin/time, skipped"; exit 0; }
# a sanitized binary's memory (shadow, quarantine) is not partmig's
if grep -q __asan_init "$PARTMIG"; then echo "apply_memory_partitions.sh: sanitized binary, skipped"; exit 0; fi
pg_start
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.journal_entries (id bigserial PRIMARY KEY, tenant_id int NOT NULL,
    amount numeric NOT NULL DEFAULT 0, note text, created_at timestamptz NOT NULL);
INSERT INTO public.journal_entries (tenant_id, amount, note, created_at)
SELECT g % 50, g, md5(g::text), timestamptz '2022-01-01' + (g / 20000.0) * interval '1430 days'
FROM generate_series(1, 20000) g;
CREATE INDEX ON public.journal_entries (tenant_id, created_at);
SQL
mkdir -p "$PARTMIG_TEST_DIR/pol"
echo 'partition "journal_entries" { column = "created_at", interval = "1 day", primary_key = { "id", "created_at" },
  indexes = { { columns = { "tenant_id" } } } }' >"$PARTMIG_TEST_DIR/pol/j.lua"
run_cmd "$PARTMIG" compile "$PARTMIG_TEST_DIR/pol" -o "$PARTMIG_TEST_DIR/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd /usr/bin/time -f "maxrss=%M" "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig" --jobs 2
assert_eq "$RC" 0 "apply ($ERR)"
nparts=$(psql_q "SELECT count(*) FROM pg_partition_tree('public.journal_entries') WHERE isleaf")
assert_eq "$(( nparts > 1400 ))" 1 "more than 1,400 partitions ($nparts)"
kib=$(printf '%s\n' "$ERR" | sed -n 's/^maxrss=\([0-9]*\)$/\1/p' | tail -1)
echo "partmig apply: max RSS ${kib:-?} KiB at $nparts partitions"
assert_eq "$(( ${kib:-999999} < 30 * 1024 ))" 1 "apply's max RSS under 30 MiB at $nparts partitions (${kib:-?} KiB)"
assert_eq "$(psql_q "SELECT count(*) FROM public.journal_entries")" 20000 "every row converted"
assert_done
