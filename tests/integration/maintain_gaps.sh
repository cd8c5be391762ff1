#!/usr/bin/env bash
# maintain_gaps.sh: status and maintain agree about gaps.  A partition
# dropped or detached by hand, in the past or ahead of now, is a warning in
# `status --check` that tells the user to run maintain; maintain fills it
# (or, when DEFAULT holds rows of that range, says to drain them, and
# --drain-default does); afterwards status --check is OK.  Gaps below
# retention's cutoff are left alone: those partitions are gone on purpose,
# and recreating them every night only for retention to drop them again
# would be churn.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
T=$PARTMIG_TEST_DIR
month() { psql_q "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => $1), 'YYYY_MM')"; }
month_start() { psql_q "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => $1), 'YYYY-MM-DD')"; }
START=$(month_start -8)
cat >"$T/p.lua" <<LUA
partition "ev" { column = "at", interval = "1 month", start = "$START", premake = 3,
  columns = { { "id", "bigint not null" }, { "at", "timestamptz not null" } }, primary_key = { "id", "at" } }
partition "dv" { column = "at", interval = "1 month", start = "$START", premake = 3, default_partition = true,
  columns = { { "id", "bigint not null" }, { "at", "timestamptz not null" } }, primary_key = { "id", "at" } }
partition "rv" { column = "at", interval = "1 month", start = "$START", premake = 2,
  retention = { keep = "3 months" },
  columns = { { "id", "bigint not null" }, { "at", "timestamptz not null" } }, primary_key = { "id", "at" } }
LUA
"$PARTMIG" compile "$T/p.lua" -o "$T/mig" >/dev/null
run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply ($ERR)"
# a foreign key keeps one old partition of rv: retention removes the others
# around it, leaving a gap below its cutoff
old=$(month -7)
psql_q "CREATE TABLE public.rv_ref (id bigint, at timestamptz, FOREIGN KEY (id, at) REFERENCES public.rv_p${old} (id, at))" >/dev/null
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "a first maintain ($ERR)"
assert_contains "$OUT" "dropped partition rv_p$(month -6)" "retention removes the partitions around the kept one"
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhrelid = 'public.rv_p${old}'::regclass")" 1 "the referenced partition stays"
# rv keeps one partition due for retention (a foreign key references it):
# status rightly warns about that one; the checks below read ev and dv
ok_except_rv() { # status --check: no problem but rv's kept partition
    run_cmd "$PARTMIG" status --check
    assert_eq "$(echo "$OUT" | grep -E '^(WARNING|CRITICAL)' | grep -vc 'public.rv: 1 partition(s) due for retention')" 0 "$1 ($OUT)"
}
ok_except_rv "status --check is OK to begin with"
assert_not_contains "$OUT" "public.rv: no partition from" "no gap reported below rv's retention cutoff"

# gaps in the past and ahead of now
past=$(month -4) ahead=$(month 2)
psql_q "DROP TABLE public.ev_p${past}; ALTER TABLE public.ev DETACH PARTITION public.ev_p${ahead}; DROP TABLE public.ev_p${ahead}" >/dev/null
run_cmd "$PARTMIG" status --check
assert_eq "$RC" 1 "status --check warns about the gaps"
assert_contains "$OUT" "public.ev: no partition from" "status names the gap"
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain succeeds ($ERR)"
assert_contains "$OUT" "created partition ev_p${past}" "maintain fills the past gap"
assert_contains "$OUT" "created partition ev_p${ahead}" "maintain fills the gap ahead"
ok_except_rv "status --check agrees: OK after maintain"
run_cmd "$PARTMIG" maintain
assert_contains "$OUT" "nothing to do" "a second maintain has nothing to do"

# a gap whose range has rows in DEFAULT: maintain says to drain; the drain fills it
gap=$(month -2)
psql_q "DROP TABLE public.dv_p${gap}" >/dev/null
psql_q "INSERT INTO public.dv VALUES (1, '$(month_start -2) 10:00 UTC')" >/dev/null
assert_eq "$(psql_q "SELECT count(*) FROM public.dv_default")" 1 "the row sits in DEFAULT"
run_cmd "$PARTMIG" maintain
assert_contains "$OUT$ERR" "drain-default" "maintain says the range's rows wait for --drain-default"
run_cmd "$PARTMIG" status --check
assert_contains "$OUT" "public.dv: no partition from" "status --check warns about dv's gap"
run_cmd "$PARTMIG" maintain --drain-default
assert_eq "$RC" 0 "maintain --drain-default ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM public.dv_p${gap}")" 1 "the row moved into its partition"
assert_eq "$(psql_q "SELECT count(*) FROM public.dv_default")" 0 "DEFAULT is empty"
ok_except_rv "status --check OK after the drain"

# below retention's cutoff the gap left around the kept partition is not
# refilled (no nightly create-then-drop)
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain with retention ($ERR)"
assert_not_contains "$OUT" "created partition rv_" "a gap below the retention cutoff is not refilled"
assert_not_contains "$OUT" "dropped partition rv_" "no churn on the next run (drops)"
assert_done
