#!/usr/bin/env bash
# maintain_stats.sh: what partitions made later take from their table, and
# statistics -- partitions created by maintain (premake and --drain-default)
# and by apply's premake get the table's grants (table and column), owner,
# storage parameters (from its newest partition) and replica identity; a
# drained partition is analyzed; a copy conversion leaves the new table and
# its partitions analyzed; maintain records its runs in the ledger, and an
# older ledger without partmig.maintain_runs is upgraded.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
T="$PARTMIG_TEST_DIR"

mkdir -p "$T/pol"
cat >"$T/pol/t.lua" <<'LUA'
defaults { schema = "public", by = "range", column = "created_at", interval = "1 month", premake = 3,
           timezone = "UTC", primary_key = { "id", "created_at" } }
partition "ev" { columns = { { "id", "bigint not null" }, { "created_at", "timestamptz not null" }, { "note", "text" } },
                 default_partition = true }
partition "conv" { existing = { method = "copy" } }
LUA
psql_q "CREATE ROLE reader; CREATE ROLE writer; CREATE ROLE app_owner"
psql_q "CREATE TABLE public.conv (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, note text)"
psql_q "INSERT INTO public.conv SELECT i, now() - make_interval(hours => i), 'n' FROM generate_series(1, 5000) i"
run_cmd "$PARTMIG" compile "$T/pol" -o "$T/mig"
assert_eq "$RC" 0 "compile ($ERR)"
run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply ($ERR)"

# ---- a copy conversion: the new table and every partition holding rows have statistics
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.conv'::regclass")" p "conv is partitioned"
assert_eq "$(psql_q "SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'conv' AND attname = 'created_at'")" 1 \
    "the converted table has column statistics"
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                      WHERE i.inhparent = 'public.conv'::regclass AND pg_relation_size(c.oid) > 0 AND c.reltuples < 0")" 0 \
    "every converted partition holding rows is analyzed"

# ---- the table's settings, as an operator makes them
NEWEST=$(psql_q "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = 'public.ev'::regclass AND c.relname <> 'ev_default' ORDER BY c.oid DESC LIMIT 1")
psql_q "ALTER TABLE public.$NEWEST SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01)"
psql_q "ALTER TABLE public.$NEWEST REPLICA IDENTITY FULL"
psql_q "GRANT SELECT ON public.ev TO reader; GRANT INSERT, UPDATE ON public.ev TO writer WITH GRANT OPTION;
        GRANT SELECT (note) ON public.ev TO writer"

# the two partitions ahead are gone: maintain makes them again
NEXT2=ev$(psql_q "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months', '\"_p\"YYYY_MM')")
NEXT3=ev$(psql_q "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '3 months', '\"_p\"YYYY_MM')")
[ "$NEWEST" = "$NEXT3" ] || fail "the newest partition is $NEWEST, expected $NEXT3"
psql_q "DROP TABLE public.$NEXT2"
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain ($ERR)"
assert_contains "$OUT" "created partition $NEXT2" "maintain made it again"
settings() {
    psql_q "SELECT coalesce(array_to_string(reloptions, ','), '') || ' ' || relreplident::text FROM pg_class WHERE oid = 'public.$1'::regclass"
}
grants() {
    psql_q "SELECT string_agg(grantee || ':' || privilege_type || ':' || is_grantable, ',' ORDER BY grantee, privilege_type)
              FROM information_schema.role_table_grants WHERE table_name = '$1' AND grantee IN ('reader', 'writer')"
}
assert_eq "$(settings "$NEXT2")" "fillfactor=70,autovacuum_vacuum_scale_factor=0.01 f" "maintain's partition takes the storage parameters and replica identity"
assert_eq "$(grants "$NEXT2")" "reader:SELECT:NO,writer:INSERT:YES,writer:UPDATE:YES" "maintain's partition takes the table's grants"
assert_eq "$(psql_q "SELECT count(*) FROM information_schema.column_privileges WHERE table_name = '$NEXT2' AND grantee = 'writer' AND column_name = 'note' AND privilege_type = 'SELECT'")" 1 \
    "maintain's partition takes the column grants"
assert_eq "$(psql_q "SELECT count(*) FROM pg_class WHERE oid = 'public.$NEXT2'::regclass AND reltuples >= 0")" 0 \
    "an empty new partition is left for autovacuum to analyze"

# ---- replica identity USING INDEX and the owner
psql_q "CREATE UNIQUE INDEX ev_ri ON public.ev (id, created_at)"
psql_q "ALTER TABLE public.$NEXT3 REPLICA IDENTITY USING INDEX ${NEXT3}_id_created_at_idx"
psql_q "ALTER TABLE public.ev OWNER TO app_owner"
psql_q "DROP TABLE public.$NEXT2"
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain ($ERR)"
assert_eq "$(psql_q "SELECT i.indexrelid::regclass::text FROM pg_index i WHERE i.indrelid = 'public.$NEXT2'::regclass AND i.indisreplident")" \
    "${NEXT2}_id_created_at_idx" "the replica identity index follows"
assert_eq "$(psql_q "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'public.$NEXT2'::regclass")" app_owner \
    "the new partition belongs to the table's owner"

# ---- --drain-default: the new partition takes the settings and is analyzed
psql_q "INSERT INTO public.ev SELECT i, date_trunc('month', now()) + interval '5 months' + make_interval(mins => i), 'x' FROM generate_series(1, 300) i"
run_cmd "$PARTMIG" maintain --drain-default
assert_eq "$RC" 0 "drain ($ERR)"
NEXT5=ev$(psql_q "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '5 months', '\"_p\"YYYY_MM')")
assert_contains "$OUT" "into new partition $NEXT5" "drained into a new partition"
assert_eq "$(grants "$NEXT5")" "reader:SELECT:NO,writer:INSERT:YES,writer:UPDATE:YES" "the drained partition takes the grants"
assert_eq "$(psql_q "SELECT reltuples::bigint FROM pg_class WHERE oid = 'public.$NEXT5'::regclass")" 300 "the drained partition is analyzed"

# ---- apply's premake carries too (a new version with more premake)
sed -i 's/premake = 3/premake = 7/' "$T/pol/t.lua"
run_cmd "$PARTMIG" compile "$T/pol" -o "$T/mig"
assert_eq "$RC" 0 "compile premake 7 ($ERR)"
run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply premake 7 ($ERR)"
NEXT7=ev$(psql_q "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '7 months', '\"_p\"YYYY_MM')")
assert_eq "$(grants "$NEXT7")" "reader:SELECT:NO,writer:INSERT:YES,writer:UPDATE:YES" "apply's premake partition takes the grants"
assert_contains "$(settings "$NEXT7")" "fillfactor=70" "apply's premake partition takes the storage parameters"

# ---- maintain's runs in the ledger; an older ledger is upgraded
assert_eq "$(psql_q "SELECT value FROM partmig.meta WHERE key = 'ledger_version'")" 2 "ledger version 2"
psql_q "DROP TABLE partmig.maintain_runs; UPDATE partmig.meta SET value = '1' WHERE key = 'ledger_version'"
run_cmd "$PARTMIG" maintain --dry-run
assert_eq "$(psql_q "SELECT to_regclass('partmig.maintain_runs') IS NULL")" t "a dry run changes nothing"
run_cmd "$PARTMIG" maintain
assert_eq "$RC" 0 "maintain on a version 1 ledger ($ERR)"
assert_eq "$(psql_q "SELECT value FROM partmig.meta WHERE key = 'ledger_version'")" 2 "upgraded to version 2"
assert_eq "$(psql_q "SELECT string_agg(table_name || '=' || result, ' ' ORDER BY table_name) FROM partmig.maintain_runs")" \
    "public.conv=ok public.ev=ok" "each table's run recorded"
assert_done
