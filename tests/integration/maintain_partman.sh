#!/usr/bin/env bash
# maintain_partman.sh: backend = "pg_partman" on a converted table.  `plan`
# says the step creates the extension and who may; maintain runs pg_partman
# per table and reports what it made and removed; its retention does not
# run before the conversion is finalized (the old table is the rollback
# point), and after finalize it does, reported partition by partition.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
T="$PARTMIG_TEST_DIR"
mkdir -p "$T/pol"
# eight months of rows, up to now: 100 a month
psql_q "CREATE TABLE public.sales (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, amount integer)"
psql_q "INSERT INTO public.sales (created_at, amount)
          SELECT date_trunc('month', now()) - make_interval(months => m) + make_interval(days => d % 27, hours => d), d
          FROM generate_series(0, 7) m, generate_series(1, 100) d"
cat >"$T/pol/sales.lua" <<'LUA'
partition "sales" { column = "created_at", interval = "1 month", premake = 2, backend = "pg_partman",
  primary_key = { "id", "created_at" }, retention = { keep = "3 months" } }
LUA
run_cmd "$PARTMIG" compile "$T/pol" -o "$T/mig"
assert_eq "$RC" 0 "compile ($ERR)"

# plan says the step creates the extension, and whether this role can
psql_q "CREATE ROLE app LOGIN; ALTER TABLE public.sales OWNER TO app"
run_cmd env PGUSER=app "$PARTMIG" plan -d "$T/mig"
assert_contains "$OUT" "creates extension pg_partman: CREATE EXTENSION needs a superuser and role \"app\" is not one" "plan warns a non-superuser"
run_cmd "$PARTMIG" plan -d "$T/mig"
assert_eq "$RC" 0 "plan ($ERR)"
assert_contains "$OUT" "creates extension pg_partman (CREATE EXTENSION needs a superuser; this role is one)" "plan says the step creates the extension"

run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply converts and hands the table to pg_partman ($ERR)"
assert_eq "$(psql_q "SELECT state FROM partmig.conversions")" swapped "converted, not finalized"
assert_eq "$(psql_q "SELECT retention FROM partman.part_config WHERE parent_table = 'public.sales'")" "3 months" "pg_partman has the retention"
total=$(psql_q "SELECT count(*) FROM public.sales")
old=$(psql_q "SELECT count(*) FROM public.sales WHERE created_at < date_trunc('month', now()) - interval '3 months'")
assert_eq "$total" 800 "800 rows"
assert_eq "$([ "$old" -gt 0 ] && echo yes)" yes "rows older than the retention exist ($old)"
parts=$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.sales'::regclass")

# before finalize: nothing removed, and it says why
run_cmd "$PARTMIG" maintain
echo "$OUT"
assert_eq "$RC" 0 "maintain before finalize ($ERR)"
assert_contains "$OUT" "pg_partman's retention waits until the conversion is finalized" "says why retention waits"
assert_not_contains "$OUT" "dropped" "nothing dropped"
assert_eq "$(psql_q "SELECT count(*) FROM public.sales")" "$total" "every row still there"
assert_eq "$([ "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.sales'::regclass")" -ge "$parts" ] && echo yes)" yes "no partition removed"
assert_eq "$(psql_q "SELECT retention FROM partman.part_config WHERE parent_table = 'public.sales'")" "3 months" "pg_partman's settings unchanged"

# after finalize: retention runs and is reported
run_cmd "$PARTMIG" finalize public.sales
assert_eq "$RC" 0 "finalize ($ERR)"
run_cmd "$PARTMIG" maintain
echo "$OUT"
assert_eq "$RC" 0 "maintain after finalize ($ERR)"
assert_contains "$OUT" "pg_partman dropped partition" "the drops are reported"
reported=$(echo "$OUT" | sed -n 's/.*pg_partman dropped partition [a-z0-9_]* (\([0-9]*\) rows).*/\1/p' | paste -sd+ | bc)
left=$(psql_q "SELECT count(*) FROM public.sales")
assert_eq "$reported" "$((total - left))" "the reported rows are the rows removed"
assert_eq "$([ "$left" -lt "$total" ] && echo yes)" yes "retention removed rows ($left of $total left)"
assert_eq "$(psql_q "SELECT count(*) FROM public.sales WHERE created_at >= date_trunc('month', now())")" 100 "this month's rows kept"
run_cmd "$PARTMIG" maintain
assert_not_contains "$OUT" "dropped" "a second run drops nothing"
assert_done
