#!/usr/bin/env bash
# valgrind_runtime.sh: the runtime under valgrind memcheck against a real
# PostgreSQL -- plan, apply with an online copy conversion (two copy jobs,
# threads), status --json, verify, maintain, rollback: no invalid access, no
# definite or possible leak.  Also: retention waits for finalize.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"

command -v valgrind >/dev/null || { echo "FAIL: valgrind is not installed (./build.sh installs it)" >&2; exit 1; }
if ldd "$PARTMIG" 2>/dev/null | grep -q 'libasan'; then
    echo "skip: $PARTMIG is an AddressSanitizer build, which valgrind cannot run; the plain build runs this test"
    exit 0
fi
pg_start
T=$PARTMIG_TEST_DIR
VG=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible
    --suppressions="$PARTMIG_SOURCE/tests/cli/valgrind_lint.supp")

psql_q "CREATE TABLE public.orders (id bigserial PRIMARY KEY, tenant_id int NOT NULL,
          created_at timestamptz NOT NULL, amount numeric NOT NULL);
        INSERT INTO public.orders (tenant_id, created_at, amount)
          SELECT i % 7, now() - (i || ' hours')::interval, i FROM generate_series(1, 5000) i;"
mkdir -p "$T/pol"
cat >"$T/pol/orders.lua" <<'LUA'
partition "orders" {
  by = "range", column = "created_at", interval = "1 month", premake = 2,
  primary_key = { "id", "created_at" },
  indexes = { { columns = { "tenant_id" } } },
  retention = { keep = "3 months" },
  existing = { method = "copy", batch_size = 500, jobs = 2 },
}
LUA
"$PARTMIG" compile "$T/pol" -o "$T/mig" >/dev/null || fail "compile"

vg() { # vg WANT_RC ARGS...
    local want=$1; shift
    run_cmd "${VG[@]}" "$PARTMIG" "$@"
    assert_eq "$RC" "$want" "valgrind partmig $* ($(echo "$ERR" | grep -m3 -E '==|partmig:'))"
    assert_not_contains "$ERR" "==" "valgrind report for partmig $*"
}
vg 0 plan -d "$T/mig"
vg 0 apply -d "$T/mig"
assert_eq "$(psql_q "SELECT count(*) FROM public.orders")" 5000 "every row converted"
vg 0 status --json
vg 0 verify -d "$T/mig"
vg 0 maintain
# the conversion is not finalized: its old table is the rollback point, so
# retention must not remove partitions yet
assert_contains "$OUT" "retention waits until the conversion is finalized" "retention holds off before finalize"
assert_eq "$(psql_q "SELECT count(*) FROM public.orders")" 5000 "no row removed before finalize"
vg 0 rollback --to 0 -d "$T/mig"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.orders'::regclass")" r "rolled back to the plain table"
vg 2 apply --no-such-option
assert_done
