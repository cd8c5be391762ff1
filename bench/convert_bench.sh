#!/usr/bin/env bash
# convert_bench.sh: partmig's copy conversion against one INSERT ... SELECT
# and pg_partman 4.7 partition_data_proc on the same data (journal_entries,
# monthly partitions over 25 months); the longest writer stall during a copy
# and an attach conversion at two sizes; partmig's max RSS.  Prints
# BENCH|name|value|unit|target lines (bench/run.sh collects them).
# Throughput: the statement and partmig alternate on the same cached source,
# each into an empty table of the same layout, CONVERT_BENCH_REPS times
# (default 3), medians reported.  partmig builds the new table's primary key
# after its copy, so that build is counted in its time; the statement runs
# into the table with the key, as SPEC states it, and, for reference, into
# the unindexed table followed by the key build.
#   CONVERT_BENCH_ROWS="100000 1000000"   sizes for stall and RSS
set -euo pipefail
cd "$(dirname "$0")/.."
export PARTMIG_SOURCE=$PWD PARTMIG=${PARTMIG:-$PWD/build/partmig}
TOOLS=${PARTMIG_TOOLS:-$PWD/build/tests}
SIZES=${CONVERT_BENCH_ROWS:-100000 1000000}
BIG=${SIZES##* }
. tests/lib/pg.sh
pg_start "max_wal_size = 4GB" "shared_buffers = 512MB" "checkpoint_timeout = 30min"
q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
now() { date +%s.%N; }
bench() { echo "BENCH|$1|$2|$3|$4"; }
MIG="$PARTMIG_TEST_DIR/mig"
POL="$PARTMIG_TEST_DIR/pol"
mkdir -p "$POL"
policy() { # method
    cat >"$POL/je.lua" <<LUA
partition "journal_entries" { column = "created_at", interval = "1 month", premake = 0,
  primary_key = { "id", "created_at" }, existing = { method = "$1" } }
LUA
    rm -rf "$MIG"
    q "DROP SCHEMA IF EXISTS partmig CASCADE" 2>/dev/null
    "$PARTMIG" compile "$POL" -o "$MIG" >/dev/null
}
load() { # rows: a fresh journal_entries
    # and whatever an earlier conversion kept (old table, attached legacy table, ledger)
    q "DROP TABLE IF EXISTS public.journal_entries, public.audit_logs, public.workflow_logs CASCADE"
    q "DROP TABLE IF EXISTS public.journal_entries_partmig_old, public.journal_entries_legacy CASCADE"
    q "DROP SCHEMA IF EXISTS partmig CASCADE"
    q "DROP TABLE IF EXISTS public.expected_journal_entries"
    psql -X -q -v ON_ERROR_STOP=1 -f tests/fixtures/erp_schema.sql
    bash tests/fixtures/erp_data.sh "$1" 0 0 >/dev/null
    q "VACUUM FREEZE ANALYZE public.journal_entries"
    q "CHECKPOINT"
}
parted() { # name: the same layout partmig builds, empty
    q "DROP TABLE IF EXISTS $1"
    q "CREATE TABLE $1 (LIKE public.journal_entries INCLUDING DEFAULTS) PARTITION BY RANGE (created_at)"
    q "ALTER TABLE $1 ADD PRIMARY KEY (id, created_at)"
    q "DO \$\$ DECLARE d timestamptz := date_trunc('month', (SELECT min(created_at) FROM public.journal_entries) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'; BEGIN
         WHILE d <= now() LOOP
           EXECUTE format('CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (%L) TO (%L)', '$1' || to_char(d, '_YYYY_MM'), '$1', d, d + interval '1 month');
           d := d + interval '1 month';
         END LOOP; END \$\$"
}
pk_ms() { # apply's stderr: ms partmig spent building the new table's primary key after the copy
    sed -n 's/.*built the primary key.* in \([0-9]*\) ms$/\1/p' "$1" | tail -1
}
backfill_rate() { # [pk_ms]: rows/s of the conversion's batches, the key build after them counted in
    q "SELECT round(sum(copied_rows) / (extract(epoch FROM max(done_at) - min(done_at - ms * interval '1 ms')) + ${1:-0} / 1000.0)) FROM partmig.batches"
}
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

if [ -z "${CONVERT_BENCH_SKIP_THROUGHPUT:-}" ]; then
REPS=${CONVERT_BENCH_REPS:-3}
echo "== throughput, $BIG rows, median of $REPS interleaved runs" >&2
load "$BIG"
q "SELECT count(*) FROM public.journal_entries" >/dev/null # both sides start with the source cached
policy copy
base_runs="" bare_runs="" runs1="" runs2=""
for rep in $(seq "$REPS"); do
    # the statement: into the same layout partmig ends with (primary key present)
    parted public.bench_parted
    q "CHECKPOINT"
    t0=$(now); q "INSERT INTO public.bench_parted SELECT * FROM public.journal_entries"; t1=$(now)
    base_runs="$base_runs $(echo "$BIG / ($t1 - $t0)" | bc)"
    q "DROP TABLE public.bench_parted"
    # for reference: the statement into the unindexed layout, then the key built
    parted public.bench_parted
    q "ALTER TABLE public.bench_parted DROP CONSTRAINT bench_parted_pkey"
    q "CHECKPOINT"
    t0=$(now); q "INSERT INTO public.bench_parted SELECT * FROM public.journal_entries"
    q "ALTER TABLE public.bench_parted ADD PRIMARY KEY (id, created_at)"; t1=$(now)
    bare_runs="$bare_runs $(echo "$BIG / ($t1 - $t0)" | bc)"
    q "DROP TABLE public.bench_parted"
    for jobs in 1 2; do
        q "CHECKPOINT"
        "$PARTMIG" apply -d "$MIG" --jobs "$jobs" --batch-size 50000 >/dev/null 2>"$PARTMIG_TEST_DIR/apply.out"
        rate=$(backfill_rate "$(pk_ms "$PARTMIG_TEST_DIR/apply.out")")
        eval "runs$jobs=\"\$runs$jobs $rate\""
        "$PARTMIG" rollback --to 0 -d "$MIG" >/dev/null 2>&1
        q "DROP SCHEMA partmig CASCADE"; q "VACUUM FREEZE public.journal_entries"
        rm -rf "$MIG"; "$PARTMIG" compile "$POL" -o "$MIG" >/dev/null
    done
done
echo "runs (rows/s): statement$base_runs; unindexed+key$bare_runs; jobs1$runs1; jobs2$runs2" >&2
base=$(median $base_runs); bare=$(median $bare_runs); rate1=$(median $runs1); rate2=$(median $runs2)
bench convert_insert_select "$base" rows/s "baseline"
bench convert_insert_select_unindexed_then_key "$bare" rows/s "reference"
for jobs in 1 2; do
    eval "rate=\$rate$jobs"
    target=$([ "$jobs" = 1 ] && echo ">=0.9x" || echo ">=1.3x")
    bench "convert_copy_jobs${jobs}" "$rate" rows/s "$target"
    bench "convert_copy_jobs${jobs}_ratio" "$(echo "scale=2; $rate / $base" | bc)" x "$target"
    bench "convert_copy_jobs${jobs}_vs_unindexed_then_key" "$(echo "scale=2; $rate / $bare" | bc)" x "reference"
done

if q "CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman" 2>/dev/null; then
    q "CREATE TABLE public.pm_parted (LIKE public.journal_entries INCLUDING DEFAULTS) PARTITION BY RANGE (created_at)"
    q "SELECT partman.create_parent('public.pm_parted', 'created_at', 'native', 'monthly', p_premake := 1, p_start_partition := to_char(now() + interval '1 month', 'YYYY-MM-01'))" >/dev/null
    q "INSERT INTO public.pm_parted SELECT * FROM public.journal_entries"
    q "CHECKPOINT"
    t0=$(now); psql -X -q -c "CALL partman.partition_data_proc('public.pm_parted', p_batch := 1000, p_wait := 0, p_quiet := true)" >/dev/null; t1=$(now)
    moved=$(q "SELECT count(*) FROM ONLY public.pm_parted_default")
    pm=$(echo "$BIG / ($t1 - $t0)" | bc)
    bench convert_pg_partman_partition_data_proc "$pm" rows/s "peer"
    bench convert_copy_jobs1_vs_pg_partman "$(echo "scale=2; $rate1 / $pm" | bc)" x ">=2.5x"
    bench convert_copy_jobs2_vs_pg_partman "$(echo "scale=2; $rate2 / $pm" | bc)" x ">=2.5x"
    q "DROP TABLE public.pm_parted CASCADE"
else
    echo "pg_partman not installed: skipping the peer" >&2
fi
fi

for n in $SIZES; do
    # for reference: what the same writer sees while the server is just as busy
    # with one plain INSERT ... SELECT (no lock in the writer's way): the part
    # of a stall that is the 2-core machine's load, not partmig's locking
    load "$n"
    q "CREATE TABLE public.expected_journal_entries AS SELECT * FROM public.journal_entries"
    parted public.bench_parted
    rm -f "$PARTMIG_TEST_DIR/stop"
    "$TOOLS/convert_writer" journal_entries created_at "$PARTMIG_TEST_DIR/stop" 9 >"$PARTMIG_TEST_DIR/w.out" 2>&1 &
    wp=$!
    sleep 0.5
    q "INSERT INTO public.bench_parted SELECT * FROM public.journal_entries"
    q "ANALYZE public.bench_parted"
    touch "$PARTMIG_TEST_DIR/stop"; wait "$wp" || true
    bench "writer_stall_${n}_during_plain_insert_select" "$(sed -n 's/.*max_ms=\([0-9.]*\).*/\1/p' "$PARTMIG_TEST_DIR/w.out")" ms "reference"
    q "DROP TABLE public.bench_parted"
    for method in copy attach; do
        echo "== $method conversion with a writer, $n rows" >&2
        load "$n"
        q "CREATE TABLE public.expected_journal_entries AS SELECT * FROM public.journal_entries"
        policy "$method"
        rm -f "$PARTMIG_TEST_DIR/stop"
        "$TOOLS/convert_writer" journal_entries created_at "$PARTMIG_TEST_DIR/stop" 9 >"$PARTMIG_TEST_DIR/w.out" 2>&1 &
        wp=$!
        sleep 0.5
        t0=$(now)
        /usr/bin/time -v "$PARTMIG" apply -d "$MIG" --jobs 2 >/dev/null 2>"$PARTMIG_TEST_DIR/time.out" || grep -E "^(partmig|hint):" "$PARTMIG_TEST_DIR/time.out" | grep -v "^partmig: note:" >&2 || true
        t1=$(now)
        sleep 0.5 # the writer goes on against the converted table: a stall
        # right after the swap (plans, caches, apply's later steps) counts too
        touch "$PARTMIG_TEST_DIR/stop"; wait "$wp" || true
        stall=$(sed -n 's/.*max_ms=\([0-9.]*\).*/\1/p' "$PARTMIG_TEST_DIR/w.out")
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$PARTMIG_TEST_DIR/time.out")
        bench "convert_${method}_${n}_seconds" "$(echo "scale=2; ($t1 - $t0) / 1" | bc)" s "-"
        bench "convert_${method}_${n}_writer_stall" "$stall" ms "<1000"
        bench "convert_${method}_${n}_swap" "$(q "SELECT round(swap_ms::numeric, 1) FROM partmig.conversions ORDER BY id DESC LIMIT 1")" ms "<1000"
        bench "convert_${method}_${n}_partmig_rss" "${rss:-?}" KiB "flat"
        [ "$(q "SELECT state FROM partmig.conversions ORDER BY id DESC LIMIT 1")" = swapped ] || { echo "warning: $method conversion of $n rows did not finish:" >&2; tail -5 "$PARTMIG_TEST_DIR/time.out" >&2; }
    done
done
