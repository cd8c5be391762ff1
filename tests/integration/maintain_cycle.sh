#!/usr/bin/env bash
# maintain_cycle.sh: partmig maintain against a throwaway PostgreSQL 15 --
# premake by the clock, retention (drop, keep_table, archive schema, verified
# dump), foreign keys, tiering, DEFAULT rows reported and drained, --dry-run,
# idempotence, the runner lock, exit codes.  (The standby no-op is not tested
# here: it needs a second cluster streaming from this one.)
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
T="$PARTMIG_TEST_DIR"
TABLES="m_drop m_keep m_arch m_dump m_tier"

# ---- tables with monthly partitions over the last 30 months, 10 rows each
for t in $TABLES; do
    psql_q "CREATE TABLE public.$t (id bigint NOT NULL, created_at timestamptz NOT NULL, note text,
              PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at)"
    psql_q "DO \$\$ DECLARE m timestamp; BEGIN
              FOR k IN 0..29 LOOP
                m := date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => k);
                EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES FROM (%L) TO (%L)',
                  '$t' || to_char(m, '\"_p\"YYYY_MM'), '$t', m || ' UTC', (m + interval '1 month') || ' UTC');
              END LOOP; END \$\$"
    psql_q "INSERT INTO public.$t SELECT row_number() OVER (), m + make_interval(days => d), 'row'
              FROM generate_series(0, 29) k,
                   LATERAL (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                                   - make_interval(months => k) AS m) mm,
                   generate_series(0, 9) d"
done
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.m_drop'::regclass")" 30 "30 partitions made by SQL"
assert_eq "$(psql_q "SELECT count(*) FROM public.m_drop")" 300 "10 rows per partition"

# ---- register the policies with partmig apply (it adopts the tables)
MIG="$T/mig"
run_cmd "$PARTMIG" compile tests/fixtures/maintain/tables.lua -o "$MIG"
assert_eq "$RC" 0 "compile the fixture ($ERR)"
run_cmd "$PARTMIG" apply -d "$MIG"
assert_eq "$RC" 0 "apply registers the policies ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM partmig.policies")" 5 "five policies registered"
psql_q "UPDATE partmig.policies SET policy = jsonb_set(policy::jsonb, '{retention,archive}', to_jsonb('dump:$T/dumps'::text))::json
          WHERE table_name = 'public.m_dump'" >/dev/null 2>&1 ||
    psql_q "UPDATE partmig.policies SET policy = jsonb_set(policy, '{retention,archive}', to_jsonb('dump:$T/dumps'::text))
              WHERE table_name = 'public.m_dump'"
assert_contains "$(psql_q "SELECT policy::text FROM partmig.policies WHERE table_name = 'public.m_dump'")" "dump:$T/dumps" "dump directory set"

# right after apply, maintain's premake has nothing to add (same window)
run_cmd "$PARTMIG" maintain --dry-run
assert_not_contains "$OUT" "would create partition" "maintain's premake window equals apply's"

# the premake partitions ahead of this month are gone again: maintain remakes them
CUR=$(psql_q "SELECT date_trunc('month', now() AT TIME ZONE 'UTC')")
want_future=""
for k in 1 2 3; do
    name=m_drop$(psql_q "SELECT to_char(timestamp '$CUR' + make_interval(months => $k), '\"_p\"YYYY_MM')")
    psql_q "DROP TABLE public.$name"
    want_future="$want_future $name"
done
# a foreign key references the oldest partition of m_drop (due, but must stay)
OLDEST=m_drop$(psql_q "SELECT to_char(timestamp '$CUR' - interval '29 months', '\"_p\"YYYY_MM')")
psql_q "CREATE TABLE public.m_ref (id bigint, created_at timestamptz, FOREIGN KEY (id, created_at) REFERENCES public.$OLDEST (id, created_at))"
# rows beyond the premake horizon land in m_keep's DEFAULT partition
psql_q "INSERT INTO public.m_keep SELECT 1000 + g, (timestamp '$CUR' + interval '12 months 3 days' + make_interval(hours => g)) AT TIME ZONE 'UTC', 'late' FROM generate_series(1, 7) g"
psql_q "INSERT INTO public.m_keep SELECT 2000 + g, (timestamp '$CUR' + interval '13 months 1 day' + make_interval(hours => g)) AT TIME ZONE 'UTC', 'later' FROM generate_series(1, 5) g"
assert_eq "$(psql_q "SELECT count(*) FROM public.m_keep_default")" 12 "12 rows in m_keep's DEFAULT partition"

# what retention and tiering must do, computed here from the bounds
CUT24=$(psql_q "SELECT date_trunc('hour', now() AT TIME ZONE 'UTC') - interval '24 months'")
CUT6=$(psql_q "SELECT date_trunc('hour', now() AT TIME ZONE 'UTC') - interval '6 months'")
due() { # due TABLE CUTOFF: partitions whose upper bound <= cutoff, by name
    psql_q "SELECT coalesce(string_agg(c.relname, ' ' ORDER BY c.relname), '') FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'public.$1'::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
               AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz <= timestamp '$2' AT TIME ZONE 'UTC'"
}
DUE_DROP=$(due m_drop "$CUT24")
DUE_KEEP=$(due m_keep "$CUT24")
DUE_ARCH=$(due m_arch "$CUT24")
DUE_DUMP=$(due m_dump "$CUT24")
DUE_TIER=$(due m_tier "$CUT6")
ndue=$(echo $DUE_DROP | wc -w)
[ "$ndue" -ge 4 ] && pass || fail "expected at least 4 due partitions, got '$DUE_DROP'"
PARTLY=m_drop$(psql_q "SELECT to_char(date_trunc('month', timestamp '$CUT24'), '\"_p\"YYYY_MM')")
assert_not_contains "$DUE_DROP" "$PARTLY" "the partition holding the cut-off is not due"
assert_contains "$DUE_DROP" "$OLDEST" "the FK-referenced partition is due by its bounds"

snapshot() {
    psql_q "SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' || c.relispartition || ':' ||
              coalesce(pg_get_expr(c.relpartbound, c.oid), '') || ':' || c.reltablespace, E'\n' ORDER BY 1)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
    for t in $TABLES; do psql_q "SELECT '$t', count(*) FROM public.$t"; done
    psql_q "SELECT count(*) FROM pg_tablespace"
}

# ---- --dry-run changes nothing (and the missing tablespace is already an error)
S0=$(snapshot)
run_cmd "$PARTMIG" maintain --dry-run
assert_eq "$RC" 1 "dry run fails on the missing tablespace"
assert_eq "$(snapshot)" "$S0" "--dry-run changed nothing"
for name in $want_future; do assert_contains "$OUT" "would create partition $name" "dry run lists $name"; done
assert_contains "$OUT" "would detach partition $(echo $DUE_DROP | tr ' ' '\n' | grep -v "$OLDEST" | head -1)" "dry run lists a removal"
assert_contains "$OUT" "nothing was changed" "dry run says so"

# ---- a first run: pg_dump's output is damaged, and the tablespace is missing
cat >"$T/bad_dump" <<'SH'
#!/usr/bin/env bash
set -o pipefail
pg_dump "$@" | sed '/^COPY /{n;d}'
SH
chmod +x "$T/bad_dump"
run_cmd env PARTMIG_PG_DUMP="$T/bad_dump" "$PARTMIG" maintain
assert_eq "$RC" 1 "exit 1 when a table's maintenance failed"
echo "$OUT"
echo "$ERR"
assert_contains "$ERR" 'tablespace "cold" does not exist' "missing tablespace is a clear error"
assert_contains "$ERR" "holds 9 rows" "a damaged dump fails verification"
assert_contains "$ERR" "public.m_dump:" "the error names the table"
for d in $DUE_DUMP; do
    assert_eq "$(psql_q "SELECT relispartition FROM pg_class WHERE oid = 'public.$d'::regclass")" f "unverified dump: $d detached but kept"
    assert_eq "$(psql_q "SELECT count(*) FROM public.$d")" 10 "unverified dump: $d keeps its rows"
done

# premake: exactly the three months ahead, with their bounds
for name in $want_future; do
    assert_contains "$OUT" "public.m_drop: created partition $name [" "premake line for $name"
done
k=1
for name in $want_future; do
    want=$(psql_q "SELECT format('FOR VALUES FROM (%L) TO (%L)', to_char(timestamp '$CUR' + make_interval(months => $k), 'YYYY-MM-DD HH24:MI:SS+00'), to_char(timestamp '$CUR' + make_interval(months => $k + 1), 'YYYY-MM-DD HH24:MI:SS+00'))")
    assert_eq "$(psql_q "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = 'public.$name'::regclass")" "$want" "bound of $name"
    k=$((k + 1))
done
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.m_drop'::regclass")" $((33 - ndue + 1)) "m_drop: due partitions gone but the FK one"

# retention: drop
for d in $DUE_DROP; do
    if [ "$d" = "$OLDEST" ]; then
        assert_eq "$(psql_q "SELECT relispartition FROM pg_class WHERE oid = 'public.$d'::regclass")" t "FK-referenced $d is kept attached"
    else
        assert_eq "$(psql_q "SELECT to_regclass('public.$d') IS NULL")" t "$d dropped"
        assert_contains "$OUT" "public.m_drop: dropped partition $d [" "drop of $d printed"
    fi
done
assert_contains "$ERR" "foreign key \"m_ref_id_created_at_fkey\" on public.m_ref references $OLDEST: kept" "FK reference reported"
assert_eq "$(psql_q "SELECT relispartition FROM pg_class WHERE oid = 'public.$PARTLY'::regclass")" t "partly-due partition kept"
assert_contains "$OUT" "(10 rows)" "row counts printed"
# retention: keep_table without indexes (the table has a DEFAULT: plain DETACH)
for d in $DUE_KEEP; do
    assert_eq "$(psql_q "SELECT relispartition::text || ':' || (SELECT count(*) FROM pg_index WHERE indrelid = 'public.$d'::regclass) FROM pg_class WHERE oid = 'public.$d'::regclass")" "false:0" "$d detached, kept, indexes dropped"
    assert_eq "$(psql_q "SELECT count(*) FROM public.$d")" 10 "$d keeps its rows"
done
# retention: archive schema
for d in $DUE_ARCH; do
    assert_eq "$(psql_q "SELECT relispartition FROM pg_class WHERE oid = 'archive.$d'::regclass")" f "$d moved to schema archive"
    assert_eq "$(psql_q "SELECT count(*) FROM archive.$d")" 10 "archive.$d keeps its rows"
done
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.m_arch'::regclass")" $((33 - ndue)) "m_arch partitions left"
# newest partition never removed; DEFAULT reported
assert_contains "$OUT" "public.m_keep: DEFAULT partition m_keep_default holds 12 rows" "DEFAULT rows reported"

# ---- the tablespace exists now; the real pg_dump: the kept tables are finished
mkdir -p "$T/cold"
[ "$(id -u)" = 0 ] && chown postgres "$T/cold"
psql_q "CREATE TABLESPACE cold LOCATION '$T/cold'"
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "second run succeeds ($ERR)"
echo "$OUT"
for d in $DUE_DUMP; do
    assert_eq "$(psql_q "SELECT to_regclass('public.$d') IS NULL")" t "$d dropped after a verified dump"
    [ -s "$T/dumps/public.$d.sql" ] && pass || fail "dump file of $d"
    assert_contains "$OUT" "public.m_dump: dumped partition $d [" "dump of $d printed"
done
[ -z "$(ls "$T/dumps" | grep partial)" ] && pass || fail "no partial dump left"
# a dump restores its rows into a scratch database
d1=$(echo $DUE_DUMP | cut -d' ' -f1)
psql_q "CREATE DATABASE scratch"
psql -X -q -v ON_ERROR_STOP=1 -d scratch -f "$T/dumps/public.$d1.sql" >/dev/null 2>&1 || fail "dump of $d1 restores"
assert_eq "$(psql -X -A -t -d scratch -c "SELECT count(*) FROM public.$d1")" 10 "restored dump holds the rows"
# tiering
for d in $DUE_TIER; do
    assert_eq "$(psql_q "SELECT coalesce(t.spcname, 'pg_default') FROM pg_class c LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace WHERE c.oid = 'public.$d'::regclass")" cold "$d in tablespace cold"
done
assert_eq "$(psql_q "SELECT count(*) FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid WHERE i.inhparent = 'public.m_tier'::regclass AND c.reltablespace <> 0")" "$(echo $DUE_TIER | wc -w)" "only the old partitions moved"
assert_contains "$OUT" "to cold" "tiering printed"

# ---- idempotent: a third run does nothing and says so
S1=$(snapshot)
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "third run exit code"
assert_contains "$OUT" "nothing to do" "third run says nothing to do"
assert_eq "$(snapshot)" "$S1" "third run changed nothing"

# ---- --drain-default: rows move into proper partitions, counts kept
total=$(psql_q "SELECT count(*) FROM public.m_keep")
run_cmd "$PARTMIG" maintain --drain-default
assert_eq "$RC" 0 "drain exit code ($ERR)"
echo "$OUT"
assert_contains "$OUT" "moved 7 rows from DEFAULT partition m_keep_default into new partition" "7 rows drained"
assert_contains "$OUT" "moved 5 rows from DEFAULT partition m_keep_default into new partition" "5 rows drained"
assert_eq "$(psql_q "SELECT count(*) FROM public.m_keep_default")" 0 "DEFAULT empty"
assert_eq "$(psql_q "SELECT count(*) FROM public.m_keep")" "$total" "no row lost or doubled"
p12=m_keep$(psql_q "SELECT to_char(timestamp '$CUR' + interval '12 months', '\"_p\"YYYY_MM')")
assert_eq "$(psql_q "SELECT count(*) FROM public.$p12")" 7 "rows in their new partition"
assert_eq "$(psql_q "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE oid = 'public.$p12'::regclass")" \
    "$(psql_q "SELECT format('FOR VALUES FROM (%L) TO (%L)', to_char(timestamp '$CUR' + interval '12 months', 'YYYY-MM-DD HH24:MI:SS+00'), to_char(timestamp '$CUR' + interval '13 months', 'YYYY-MM-DD HH24:MI:SS+00'))")" "bound of the drained partition"
assert_contains "$OUT" "DEFAULT partition m_keep_default holds 0 rows" "DEFAULT reported empty"

# ---- the runner lock: exit 3
psql -X -q -c "SELECT pg_advisory_lock(1885434484, 1835624241), pg_sleep(8)" >/dev/null &
holder=$!
sleep 1
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 3 "exit 3 while another runner holds the lock"
assert_contains "$ERR" "another partmig runner holds the lock" "lock message"
wait $holder

# ---- no ledger: nothing to maintain, exit 0; bad usage: exit 2
psql_q "CREATE DATABASE empty"
run_cmd env PGDATABASE=empty "$PARTMIG" maintain
assert_eq "$RC" 0 "no ledger: exit 0"
assert_contains "$OUT" "no partmig ledger" "no ledger said"
run_cmd "$PARTMIG" maintain --bogus
assert_eq "$RC" 2 "unknown option: exit 2"
run_cmd "$PARTMIG" maintain --help
assert_eq "$RC" 0 "--help exit 0"
assert_contains "$OUT" "ACCESS EXCLUSIVE" "--help says tiering rewrites under ACCESS EXCLUSIVE"
assert_contains "$OUT" "--drain-default" "--help lists --drain-default"
assert_done
