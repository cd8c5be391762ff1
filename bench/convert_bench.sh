#!/usr/bin/env bash
# bench/convert_bench.sh: the whole conversion, end to end, side by side with
# the offline routes and pg_partman on the same data, each route ending in the
# same state; partition-count flatness; a fixed-rate writer's longest stall and
# its capacity before, between swap and finalize, and after.  Prints BENCH
# lines and BENCHMD lines (markdown tables) for bench/run.sh.
#
# Data: journal_entries (id bigserial primary key, tenant_id, account, amount,
# memo, created_at timestamptz) with an index on (tenant_id, created_at), rows
# spread over the BENCH_SPAN_DAYS (1430) days before now: 48 monthly, ~205
# weekly or ~1,430 daily partitions.  It is loaded once per size into a
# template database; every route of every round runs in its own copy of it
# (CREATE DATABASE ... TEMPLATE, file copy and checkpoint first), so each starts
# from the same files, with the same OS cache and no dirty buffers.
#
# End state of every route: the partitions, primary key (id, created_at), the
# (tenant_id, created_at) index carried over, the policy's (tenant_id) index,
# statistics on every partition; checked after each run (rows, partitions,
# index columns, unanalyzed partitions) and a mismatch is reported.
#   a  partmig apply --jobs 2, then partmig finalize (each timed whole)
#   b  partmig apply --jobs 1
#   c  offline, fastest: CREATE the partitions, INSERT ... SELECT into them
#      unindexed, then the primary key and the two indexes, then ANALYZE
#   d  offline: one INSERT ... SELECT into the pre-indexed partitions, ANALYZE
#   e  pg_partman 4.7: create_parent on the pre-indexed table, then
#      partition_data_proc from the old table (p_source_table), then ANALYZE
# Each size runs BENCH_ROUNDS rounds, the route order rotated every round;
# medians are reported, every run is listed.  Partition counts (BENCH_SWEEP,
# at the first size): routes a and c only.  A run longer than
# BENCH_APPLY_TIMEOUT is stopped, reported as such and not repeated.
#
# Writer (per size, once, 48 partitions): rate_writer (tests/tools) runs
#   UPDATE journal_entries SET amount = amount + 1 WHERE id = $1
# at BENCH_WRITER_RATE/s (300) over BENCH_WRITER_CLIENTS (2) connections,
# latency counted from each transaction's schedule: its longest stall during
# apply --jobs 2, during finalize, and, for reference, during route c (the
# machine's load alone, no lock in its way); and its capacity (closed loop,
# median of 3 runs of BENCH_CAPACITY_SECONDS = 5) before, between swap and
# finalize, and after -- those two side by side: the swapped database is
# copied, the copy finalized, and BENCH_CAPACITY_PAIRS (5) pairs of runs
# alternate between the two; the ratio is the median of the pairs' (the
# machine's load, 10-40% run to run, weighs on both alike).  Once more at the sweep's most partitions (~1,430
# daily) with a writer that names the partition column too (WHERE id = $1
# AND created_at = $2): an id-only lookup probes every partition, and its
# capacity there (~30-50 tps at 1,100-1,430 partitions, whoever partitions
# the table: bench/writer_capacity.sh) is below the rate offered.
#
# Environment:
#   BENCH_ROWS="1000000 3000000"  sizes     BENCH_BIG=1  adds 5000000
#   BENCH_ROUNDS=3   BENCH_SWEEP="week day"   BENCH_SWEEP_ROUNDS (= ROUNDS)
#   BENCH_APPLY_TIMEOUT=600 (seconds, per run)
#   BENCH_QUICK=1    200,000 rows, 1 round, sweep at 200,000, 2 s capacity:
#                    a few minutes
# Run time, full defaults, 2 cores: about 35-60 minutes (more while
# conversions at ~1,430 partitions take minutes each).
set -euo pipefail
cd "$(dirname "$0")/.."
export PARTMIG_SOURCE=$PWD PARTMIG=${PARTMIG:-$PWD/build/partmig}
TOOLS=${PARTMIG_TOOLS:-$(dirname "$PARTMIG")/tests}
if [ "${BENCH_QUICK:-}" = 1 ]; then
    ROWS=${BENCH_ROWS:-200000} ROUNDS=${BENCH_ROUNDS:-1} CAP_S=${BENCH_CAPACITY_SECONDS:-2}
    TIMEOUT=${BENCH_APPLY_TIMEOUT:-180}
else
    ROWS=${BENCH_ROWS:-1000000 3000000} ROUNDS=${BENCH_ROUNDS:-3} CAP_S=${BENCH_CAPACITY_SECONDS:-5}
    TIMEOUT=${BENCH_APPLY_TIMEOUT:-600}
fi
[ "${BENCH_BIG:-}" = 1 ] && ROWS="$ROWS 5000000"
SWEEP=${BENCH_SWEEP-week day}
SWEEP_ROUNDS=${BENCH_SWEEP_ROUNDS:-$ROUNDS}
SPAN=${BENCH_SPAN_DAYS:-1430}
RATE=${BENCH_WRITER_RATE:-300} CLIENTS=${BENCH_WRITER_CLIENTS:-2}
CAP_PAIRS=${BENCH_CAPACITY_PAIRS:-5}
[ -x "$TOOLS/rate_writer" ] || { echo "convert_bench.sh: no $TOOLS/rate_writer (build the tests)" >&2; exit 1; }
command -v /usr/bin/time >/dev/null || { echo "convert_bench.sh: /usr/bin/time missing" >&2; exit 1; }

. tests/lib/pg.sh
. bench/lib.sh
pg_start "max_wal_size = 4GB" "shared_buffers = 512MB" "checkpoint_timeout = 30min"
export PGTZ=UTC
W=$PARTMIG_TEST_DIR/bench
mkdir -p "$W/res"
log() { echo "$*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
q() { # DB SQL
    PGDATABASE=$1 PGOPTIONS="-c client_min_messages=warning" psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$2"
}
human() { awk -v n="$1" 'BEGIN { if (n >= 1000000) printf "%gM", n / 1e6; else printf "%gk", n / 1e3 }'; }
res() { echo "$3" >>"$W/res/$1.$2"; } # CONFIG METRIC VALUE
runs() { [ -f "$W/res/$1.$2" ] && tr '\n' ' ' <"$W/res/$1.$2" | sed 's/ $//'; }
median() { # CONFIG METRIC: the median of the numeric runs, else the first non-number ("timeout", "failed")
    local f=$W/res/$1.$2 nums
    [ -f "$f" ] || return 0
    nums=$(grep -E '^[0-9.]+$' "$f" | sort -n || true)
    if [ -n "$nums" ]; then awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }' <<<"$nums"; else head -1 "$f"; fi
}
ratio() { # A B: A / B, or "-"
    awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-" }'
}
judge() { # VALUE OP LIMIT: pass/miss/-
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { if (v !~ /^[0-9.]+$/) { print "miss"; exit }
        print ((op == ">=" ? v >= l : v <= l) ? "pass" : "miss") }'
}
bench() { echo "BENCH|$1|$2|$3|$4|$5"; }

template() { # ROWS: database tpl with journal_entries, frozen, analyzed, checkpointed
    q postgres "DROP DATABASE IF EXISTS tpl"
    q postgres "CREATE DATABASE tpl"
    journal_entries tpl "$1" "$SPAN"
}
fresh() { q postgres "CREATE DATABASE $1 TEMPLATE tpl STRATEGY FILE_COPY" && q "$1" "CHECKPOINT"; }
gone() { q postgres "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; }

migrations() { # UNIT: $W/mig_UNIT, the policy compiled
    mkdir -p "$W/pol_$1"
    cat >"$W/pol_$1/je.lua" <<LUA
partition "journal_entries" { column = "created_at", interval = "1 $1", premake = 0,
  primary_key = { "id", "created_at" }, indexes = { { columns = { "tenant_id" } } },
  existing = { method = "copy" } }
LUA
    rm -rf "$W/mig_$1"
    "$PARTMIG" compile "$W/pol_$1" -o "$W/mig_$1" >/dev/null
}

# the end state: rows, partitions, index columns (attnums), unanalyzed partitions
EXPECT_INDEXES="1 6;2;2 6"
check() { # DB TABLE ROWS LABEL
    local got
    got=$(q "$1" "SELECT (SELECT count(*) FROM $2) || '|' ||
        (SELECT count(*) FROM pg_inherits WHERE inhparent = '$2'::regclass) || '|' ||
        (SELECT string_agg(indkey::text, ';' ORDER BY indkey::text) FROM pg_index WHERE indrelid = '$2'::regclass) || '|' ||
        (SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = '$2'::regclass AND c.reltuples < 0)" 2>&1) || got="error: $got"
    IFS='|' read -r n parts idx unanalyzed <<<"$got"
    log "   $4: end state $n rows, $parts partitions, index columns {$idx}, $unanalyzed unanalyzed partitions"
    [ "${4##* }" = a ] && echo "$parts" >"$W/res/${4% *}.parts"
    if [ "$n" != "$3" ] || [ "$idx" != "$EXPECT_INDEXES" ] || [ "$unanalyzed" != 0 ]; then
        log "   WARNING: $4 did not end in the expected state (rows $3, index columns {$EXPECT_INDEXES}, all analyzed)"
        echo "$4" >>"$W/res/mismatch"
    fi
}

partitions_sql() { # UNIT: create public.je_new's partitions from the data's first UNIT to now's
    cat <<SQL
DO \$\$ DECLARE d timestamptz := date_trunc('$1', (SELECT min(created_at) FROM public.journal_entries));
BEGIN
  WHILE d <= now() LOOP
    EXECUTE format('CREATE TABLE public.je_new_%s PARTITION OF public.je_new FOR VALUES FROM (%L) TO (%L)',
                   to_char(d, 'YYYYMMDD'), d, d + interval '1 $1');
    d := d + interval '1 $1';
  END LOOP;
END \$\$;
SQL
}

timed_psql() { # DB LABEL: run stdin's SQL in one session, print seconds or failed/timeout
    # (each statement's time, as psql's \timing prints it, in $W/LABEL.out)
    local t0 t1 rc=0
    t0=$(now)
    { echo '\timing on'; cat; } | PGDATABASE=$1 PGOPTIONS="-c client_min_messages=warning" timeout "$TIMEOUT" \
        psql -X -q -v ON_ERROR_STOP=1 >"$W/$2.out" 2>"$W/$2.err" || rc=$?
    t1=$(now)
    if [ $rc = 124 ]; then echo timeout; elif [ $rc != 0 ]; then log "   $2 failed: $(tail -2 "$W/$2.err")"; echo failed; else secs "$t0" "$t1"; fi
}

partmig_apply() { # DB UNIT JOBS TAG: timed apply under /usr/bin/time; prints seconds|failed|timeout
    local t0 t1 rc=0
    t0=$(now)
    PGDATABASE=$1 timeout "$TIMEOUT" /usr/bin/time -v "$PARTMIG" apply -d "$W/mig_$2" --jobs "$3" \
        >/dev/null 2>"$W/apply_$4.err" || rc=$?
    t1=$(now)
    if [ $rc = 124 ]; then echo timeout; return; fi
    if [ $rc != 0 ] || [ "$(q "$1" "SELECT state FROM partmig.conversions ORDER BY id DESC LIMIT 1" 2>/dev/null)" != swapped ]; then
        log "   apply --jobs $3 failed (exit $rc): $(grep -E '^(partmig|hint):' "$W/apply_$4.err" | grep -v 'note:' | tail -3)"
        echo failed
        return
    fi
    secs "$t0" "$t1"
}
stmt_secs() { # FILE N: the Nth (or last: $) statement's seconds in psql's \timing output
    grep '^Time: ' "$1" | sed -n "$2p" | awk '{ printf "%.2f", $2 / 1000 }'
}
rss_mib() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" | awk '{ printf "%.1f", $1 / 1024 }'; }

route() { # CONFIG ROWS UNIT ROUTE
    local cfg=$1 n=$2 unit=$3 r=$4 db=r_$4 t t2 t3
    fresh "$db"
    case $r in
    a)
        t=$(partmig_apply "$db" "$unit" 2 "$cfg")
        res "$cfg" a_apply "$t"
        log "   a apply --jobs 2: $t s$( [ "$t" = timeout ] || echo ", max RSS $(rss_mib "$W/apply_$cfg.err") MiB")"
        if [[ $t =~ ^[0-9] ]]; then
            res "$cfg" a_rss "$(rss_mib "$W/apply_$cfg.err")"
            t2=$(now)
            PGDATABASE=$db timeout 60 "$PARTMIG" status >/dev/null 2>&1 && res "$cfg" status "$(secs "$t2" "$(now)")"
            t2=$(now)
            PGDATABASE=$db timeout 60 "$PARTMIG" maintain >/dev/null 2>&1 && res "$cfg" maintain "$(secs "$t2" "$(now)")"
            t2=$(now)
            if PGDATABASE=$db timeout "$TIMEOUT" "$PARTMIG" finalize public.journal_entries >/dev/null 2>"$W/fin.err"; then
                t3=$(secs "$t2" "$(now)")
            else
                [ $? = 124 ] && t3=timeout || t3=failed
                log "   finalize: $t3: $(grep -E '^(partmig|hint):' "$W/fin.err" | tail -2)"
            fi
            res "$cfg" a_finalize "$t3"
            log "   a finalize: $t3 s"
            check "$db" public.journal_entries "$n" "$cfg a"
        fi
        ;;
    b)
        t=$(partmig_apply "$db" "$unit" 1 "$cfg")
        res "$cfg" b_apply "$t"
        log "   b apply --jobs 1: $t s"
        [[ $t =~ ^[0-9] ]] && { res "$cfg" b_rss "$(rss_mib "$W/apply_$cfg.err")"; check "$db" public.journal_entries "$n" "$cfg b"; }
        ;;
    c | d)
        {
            echo "CREATE TABLE public.je_new (LIKE public.journal_entries INCLUDING DEFAULTS) PARTITION BY RANGE (created_at);"
            partitions_sql "$unit"
            local keys="ALTER TABLE public.je_new ADD PRIMARY KEY (id, created_at);
                CREATE INDEX ON public.je_new (tenant_id, created_at); CREATE INDEX ON public.je_new (tenant_id);"
            [ "$r" = d ] && echo "$keys"
            echo "INSERT INTO public.je_new SELECT * FROM public.journal_entries;"
            [ "$r" = c ] && echo "$keys"
            echo "ANALYZE public.je_new;"
        } | timed_psql "$db" "${cfg}_$r" >"$W/t"
        t=$(cat "$W/t")
        res "$cfg" "$r" "$t"
        # its phases: statement 2 makes the partitions, the last is ANALYZE
        if [ "$r" = c ] && [[ $t =~ ^[0-9] ]]; then
            res "$cfg" c_create "$(stmt_secs "$W/${cfg}_c.out" 2)"
            res "$cfg" c_analyze "$(stmt_secs "$W/${cfg}_c.out" '$')"
        fi
        log "   $r offline $([ "$r" = c ] && echo "unindexed, then indexes" || echo "into the pre-indexed table"): $t s"
        [[ $t =~ ^[0-9] ]] && check "$db" public.je_new "$n" "$cfg $r"
        ;;
    e)
        q "$db" "CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman"
        local first
        first=$(q "$db" "SELECT to_char(date_trunc('$unit', min(created_at)), 'YYYY-MM-DD') FROM public.journal_entries")
        timed_psql "$db" "${cfg}_e" >"$W/t" <<SQL
CREATE TABLE public.je_new (LIKE public.journal_entries INCLUDING DEFAULTS) PARTITION BY RANGE (created_at);
ALTER TABLE public.je_new ADD PRIMARY KEY (id, created_at);
CREATE INDEX ON public.je_new (tenant_id, created_at);
CREATE INDEX ON public.je_new (tenant_id);
SELECT partman.create_parent('public.je_new', 'created_at', 'native', '1 $unit', p_premake := 1,
                             p_start_partition := '$first');
CALL partman.partition_data_proc('public.je_new', p_source_table := 'public.journal_entries',
                                 p_batch := 1000000, p_wait := 0, p_quiet := true);
ANALYZE public.je_new;
SQL
        t=$(cat "$W/t")
        res "$cfg" e "$t"
        log "   e pg_partman partition_data_proc: $t s"
        [[ $t =~ ^[0-9] ]] && check "$db" public.je_new "$n" "$cfg e"
        ;;
    esac
    gone "$db"
}

config() { # ROWS UNIT ROUNDS ROUTES...
    local n=$1 unit=$2 rounds=$3
    shift 3
    local routes=("$@") k=${#routes[@]} cfg
    cfg="$(human "$n")_$unit"
    migrations "$unit"
    for round in $(seq "$rounds"); do
        local order=() i
        for i in $(seq 0 $((k - 1))); do order+=("${routes[$(((i + round - 1) % k))]}"); done
        log "== $(human "$n") rows, 1 $unit partitions, round $round of $rounds: ${order[*]}"
        for r in "${order[@]}"; do
            # a route that ran out of time is not repeated
            if grep -qx timeout "$W/res/$cfg.$r" 2>/dev/null || grep -qx timeout "$W/res/$cfg.${r}_apply" 2>/dev/null; then
                log "   $r skipped (timed out before)"
                continue
            fi
            route "$cfg" "$n" "$unit" "$r"
        done
    done
}

writer() { # ROWS UNIT [COLUMN]: the fixed-rate writer's stalls and the closed-loop capacity
    # (COLUMN: the writer names the partition column too, as a workload the
    # new layout serves: UPDATE ... WHERE id = $1 AND created_at = $2)
    local n=$1 unit=$2 col=${3:-} cfg t
    cfg="$(human "$n")_$unit${col:+_named}"
    migrations "$unit"
    wout() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" "$W/w.out"; } # " late=", not "first_late="
    start_writer() { # from its first scheduled transaction, then 1 s of the writer alone
        rm -f "$W/stop" "$W/stop.ready"
        "$TOOLS/rate_writer" journal_entries "$RATE" "$CLIENTS" "$W/stop" $col >"$W/w.out" 2>&1 &
        WP=$!
        writer_ready "$W/stop" "$WP" || log "   writer did not start: $(cat "$W/w.out")"
        sleep 1
    }
    stop_writer() { sleep 1; touch "$W/stop"; wait "$WP" || log "   writer reported errors: $(cat "$W/w.out")"; log "   writer: $(tail -1 "$W/w.out")"; }
    # capacity: closed-loop runs in database DB (w by default), one a sample
    # (one run varies by 20% on a shared machine: medians of 3)
    cap_run() { PGDATABASE=${1:-w} "$TOOLS/rate_writer" journal_entries 0 "$CLIENTS" "${2:-$CAP_S}" $col | sed -n 's/.*tps=\([0-9]*\).*/\1/p'; }
    capacity() { for _ in 1 2 3; do cap_run; done | sort -n | sed -n 2p; }
    log "== writer, $(human "$n") rows, 1 $unit partitions${col:+, naming $col}: $RATE/s over $CLIENTS clients; capacity over 3 x ${CAP_S}s"
    fresh w
    export PGDATABASE=w
    res "$cfg" cap_before "$(capacity)"
    start_writer
    t=$(partmig_apply w "$unit" 2 writer)
    stop_writer
    log "   apply --jobs 2 with the writer: $t s"
    res "$cfg" stall_apply "$(wout max_ms)"
    res "$cfg" late_apply "$(wout late)"
    # between and after side by side: a copy of the swapped database is
    # finalized (wf), then samples alternate between the two, so that the
    # machine's load weighs on both alike (a warm-up run each first)
    export PGDATABASE=postgres
    q postgres "CREATE DATABASE wf TEMPLATE w STRATEGY FILE_COPY"
    PGDATABASE=wf "$PARTMIG" finalize public.journal_entries >/dev/null 2>"$W/fin.err" || log "   finalize of the copy failed: $(tail -2 "$W/fin.err")"
    cap_run w 1 >/dev/null
    cap_run wf 1 >/dev/null
    local b a i samples=""
    for i in $(seq "$CAP_PAIRS"); do
        if [ $((i % 2)) = 1 ]; then b=$(cap_run w); a=$(cap_run wf); else a=$(cap_run wf); b=$(cap_run w); fi
        res "$cfg" cap_between "$b"
        res "$cfg" cap_after "$a"
        res "$cfg" cap_ratio "$(ratio "$b" "$a")"
        samples+=" $b/$a"
    done
    gone wf
    export PGDATABASE=w
    log "   capacity samples (tps, between/after):$samples"
    start_writer
    PGDATABASE=w "$PARTMIG" finalize public.journal_entries >/dev/null 2>"$W/fin.err" || log "   finalize failed: $(tail -2 "$W/fin.err")"
    stop_writer
    res "$cfg" stall_finalize "$(wout max_ms)"
    export PGDATABASE=postgres
    gone w
    log "   capacity (tps): before $(median "$cfg" cap_before), between $(median "$cfg" cap_between), after $(median "$cfg" cap_after)"
    # reference: the same writer while the server runs route c (no lock in its way)
    fresh w
    export PGDATABASE=w
    start_writer
    route_c_in w "$unit"
    stop_writer
    res "$cfg" stall_offline "$(wout max_ms)"
    export PGDATABASE=postgres
    gone w
}
route_c_in() { # DB UNIT: route c's statements, untimed (the writer's reference load)
    {
        echo "CREATE TABLE public.je_new (LIKE public.journal_entries INCLUDING DEFAULTS) PARTITION BY RANGE (created_at);"
        partitions_sql "$2"
        echo "INSERT INTO public.je_new SELECT * FROM public.journal_entries;
              ALTER TABLE public.je_new ADD PRIMARY KEY (id, created_at);
              CREATE INDEX ON public.je_new (tenant_id, created_at); CREATE INDEX ON public.je_new (tenant_id);
              ANALYZE public.je_new;"
    } | PGDATABASE=$1 psql -X -q -v ON_ERROR_STOP=1 >/dev/null
}

started=$(now)
first=${ROWS%% *}
for n in $ROWS; do
    log "== loading $(human "$n") rows over $SPAN days"
    template "$n"
    config "$n" month "$ROUNDS" a b c d e
    writer "$n" month
    if [ "$n" = "$first" ]; then
        for unit in $SWEEP; do config "$n" "$unit" "$SWEEP_ROUNDS" a c; done
        # the most partitions, with a writer the new layout serves (an id-only
        # lookup probes every partition: its capacity, whoever partitions the
        # table, is bench/writer_capacity.sh's to show)
        last_unit=${SWEEP##* }
        [ -z "$last_unit" ] || writer "$n" "$last_unit" created_at
    fi
done
log "convert_bench.sh: ran $(awk -v s="$(secs "$started" "$(now)")" 'BEGIN { printf "%.1f", s / 60 }') minutes"

# ---- results
cell() { # CONFIG METRIC: "median (run run run)"
    local m
    m=$(median "$1" "$2")
    [ -n "$m" ] || { echo "-"; return; }
    local all
    all=$(runs "$1" "$2")
    if [ "$(wc -w <<<"$all")" -gt 1 ]; then echo "$m ($all)"; else echo "$m"; fi
}
configs=()
for n in $ROWS; do configs+=("$(human "$n")_month"); done
for unit in $SWEEP; do configs+=("$(human "$first")_$unit"); done
parts() { cat "$W/res/$1.parts" 2>/dev/null || echo "?"; }
title() { local c=$1 u=${1#*_}; echo "${c%_*} rows, $(parts "$c") $([ "$u" = day ] && echo daily || echo "${u}ly")"; }
wtitle() { # a writer's config: 1M_month, or 1M_day_named (the writer names created_at)
    local c=${1%_named}
    if [ "$c" = "$1" ]; then title "$c"; else echo "$(title "$c"), writer naming created_at"; fi
}

echo "BENCHMD|### End to end, seconds: median of $ROUNDS rounds (every run in brackets), route order rotated per round"
hdr="| route |" sep="|---|"
for c in "${configs[@]}"; do hdr="$hdr $(title "$c") |"; sep="$sep---|"; done
echo "BENCHMD|$hdr"
echo "BENCHMD|$sep"
line() { # LABEL METRIC
    local l="| $1 |" c
    for c in "${configs[@]}"; do l="$l $(cell "$c" "$2") |"; done
    echo "BENCHMD|$l"
}
ratio_line() { # LABEL NUM DEN
    local l="| $1 |" c
    for c in "${configs[@]}"; do l="$l $(ratio "$(median "$c" "$2")" "$(median "$c" "$3")") |"; done
    echo "BENCHMD|$l"
}
line "(a) partmig apply --jobs 2" a_apply
line "(a) partmig finalize after it" a_finalize
line "(b) partmig apply --jobs 1" b_apply
line "(c) offline: unindexed INSERT ... SELECT, then indexes, ANALYZE" c
line "(c) of which: creating the partitions (one session: each locks the table)" c_create
line "(c) of which: ANALYZE" c_analyze
line "(d) offline: INSERT ... SELECT into the pre-indexed table, ANALYZE" d
line "(e) pg_partman 4.7 partition_data_proc" e
ratio_line "speed of (a) apply vs (c): c / a (target >= 1.0)" c a_apply
ratio_line "speed of (b) apply vs (c): c / b" c b_apply
ratio_line "speed of (a) apply vs (e): e / a (target >= 3)" e a_apply
ratio_line "speed of (c) vs (e): e / c" e c
ratio_line "finalize / apply (target <= 0.3)" a_finalize a_apply
line "partmig max RSS during apply --jobs 2, MiB" a_rss
line "partmig status after apply, s" status
line "partmig maintain after apply, s" maintain
echo "BENCHMD|"
echo "BENCHMD|### Writer: UPDATE ... WHERE id = \$1 (naming created_at: AND created_at = \$2), $RATE/s over $CLIENTS clients (latency from schedule); capacity: closed loop, ${CAP_S} s runs, median of 3 before; between and after: $CAP_PAIRS pairs of runs alternating between the swapped database and a finalized copy of it, medians (the ratio: of the pairs')"
echo "BENCHMD|| table | longest stall during apply --jobs 2, ms (late > 100 ms) | during finalize, ms | during offline route (c), ms: machine load alone | tps before | tps between swap and finalize | tps after finalize | between / after |"
echo "BENCHMD||---|---|---|---|---|---|---|---|"
wconfigs=()
for n in $ROWS; do wconfigs+=("$(human "$n")_month"); done
[ -z "${SWEEP##* }" ] || wconfigs+=("$(human "$first")_${SWEEP##* }_named")
for c in "${wconfigs[@]}"; do
    echo "BENCHMD|| $(wtitle "$c") | $(median "$c" stall_apply) ($(median "$c" late_apply)) | $(median "$c" stall_finalize) | $(median "$c" stall_offline) | $(median "$c" cap_before) | $(median "$c" cap_between) | $(median "$c" cap_after) | $(median "$c" cap_ratio) |"
done
if [ -f "$W/res/mismatch" ]; then
    echo "BENCHMD|"
    echo "BENCHMD|**End-state mismatches** (see the log): $(tr '\n' ',' <"$W/res/mismatch" | sed 's/,$//')"
fi

# ---- BENCH lines: the targets of issue 11
for c in "${configs[@]}"; do
    t=$(title "$c")
    a=$(median "$c" a_apply)
    bench "$t: apply --jobs 2, whole" "$a" s "-" "-"
    v=$(ratio "$(median "$c" c)" "$a")
    bench "$t: apply --jobs 2 speed vs fastest offline (c/a)" "$v" x ">= 1.0x" "$(judge "$v" ">=" 1.0)"
    if [ -f "$W/res/$c.e" ]; then
        v=$(ratio "$(median "$c" e)" "$a")
        bench "$t: apply --jobs 2 speed vs pg_partman (e/a)" "$v" x ">= 3x" "$(judge "$v" ">=" 3)"
    fi
    v=$(ratio "$(median "$c" a_finalize)" "$a")
    bench "$t: finalize / apply" "$v" x "<= 0.3x" "$(judge "$v" "<=" 0.3)"
done
base="$(human "$first")_month"
for unit in $SWEEP; do
    c="$(human "$first")_$unit"
    v=$(ratio "$(median "$c" a_apply)" "$(median "$base" a_apply)")
    bench "flatness: apply at $(parts "$c") / at $(parts "$base") partitions ($(human "$first") rows)" "$v" x "<= 1.5x" "$(judge "$v" "<=" 1.5)"
    # what no route can go below: the partitions exist before a row goes
    # into them, and PostgreSQL makes them one at a time (each CREATE ...
    # PARTITION OF locks the table and re-reads every bound); the rest of
    # apply at the base count, were it no slower with more partitions
    v=$(awk -v a="$(median "$base" a_apply)" -v cb="$(median "$base" c_create)" -v cc="$(median "$c" c_create)" \
        'BEGIN { if (a > 0 && cb != "" && cc != "") printf "%.2f", (a - cb + cc) / a; else print "-" }')
    bench "flatness floor at $(parts "$c"): (apply at $(parts "$base") - creating $(parts "$base") + creating $(parts "$c") partitions) / apply at $(parts "$base")" "$v" x "-" "-"
    for cmd in status maintain; do
        v=$(median "$c" "$cmd")
        bench "partmig $cmd at $(parts "$c") partitions" "${v:-failed}" s "< 1 s" "$(judge "${v:-x}" "<=" 1)"
    done
done
for n in $ROWS; do
    bench "partmig max RSS, apply --jobs 2, $(human "$n") rows" "$(median "$(human "$n")_month" a_rss)" MiB "flat (12)" "-"
done
for c in "${wconfigs[@]}"; do
    v=$(median "$c" stall_apply)
    bench "writer longest stall during apply, $(wtitle "$c")" "$v" ms "< 100 ms" "$(judge "${v:-x}" "<=" 100)"
    v=$(median "$c" stall_finalize)
    bench "writer longest stall during finalize, $(wtitle "$c")" "$v" ms "< 100 ms" "$(judge "${v:-x}" "<=" 100)"
    v=$(median "$c" cap_ratio)
    bench "writer capacity between swap and finalize / after, $(wtitle "$c")" "$v" x ">= 0.95x" "$(judge "$v" ">=" 0.95)"
done
if [ -f "$W/res/mismatch" ]; then
    bench "routes not ending in the expected state" "$(wc -l <"$W/res/mismatch")" runs "0" "miss"
fi
