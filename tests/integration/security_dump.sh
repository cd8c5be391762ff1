#!/usr/bin/env bash
# security_dump.sh: retention's "dump:DIR" archive against a throwaway
# PostgreSQL 15 and hostile surroundings -- a planted .partial or final file
# (symbolic links), a partition named "e/../../x", a group-writable, a
# symlinked and another user's directory -- and the password: pg_dump's argv
# never holds it (a percent-encoded "pass%77ord" key included), a bare
# database name works.  Dumps are 0600 in a 0700 directory, nothing is written
# outside it, and a partition is dropped only after its dump verified.
set -u
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
pg_start
T="$PARTMIG_TEST_DIR"
S="$T/sec" # every dump directory lives in here
mkdir -m 700 "$S" "$S/victims"
TABLES="s_ok s_plink s_flink s_evil s_gw s_sym s_owner"

# ---- tables with monthly partitions over the last 27 months, 5 rows each
for t in $TABLES; do
    psql_q "CREATE TABLE public.$t (id bigint NOT NULL, created_at timestamptz NOT NULL, note text,
              PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at)"
    psql_q "DO \$\$ DECLARE m timestamp; BEGIN
              FOR k IN 0..26 LOOP
                m := date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => k);
                EXECUTE format('CREATE TABLE public.%I PARTITION OF public.%I FOR VALUES FROM (%L) TO (%L)',
                  '$t' || to_char(m, '\"_p\"YYYY_MM'), '$t', m || ' UTC', (m + interval '1 month') || ' UTC');
              END LOOP; END \$\$"
    psql_q "INSERT INTO public.$t SELECT row_number() OVER (), m + make_interval(days => d), 'row'
              FROM generate_series(0, 26) k,
                   LATERAL (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                                   - make_interval(months => k) AS m) mm,
                   generate_series(0, 4) d"
done
CUR=$(psql_q "SELECT date_trunc('month', now() AT TIME ZONE 'UTC')")
month() { psql_q "SELECT to_char(timestamp '$CUR' - make_interval(months => $1), 'YYYY-MM-DD')"; }
pname() { echo "$1$(psql_q "SELECT to_char(timestamp '$CUR' - make_interval(months => $2), '\"_p\"YYYY_MM')")"; }
# due for retention (keep = 24 months): the partitions 25 and 26 months back
OLD25_OK=$(pname s_ok 25) OLD26_OK=$(pname s_ok 26)

{
    cat <<'LUA'
defaults { schema = "public", by = "range", column = "created_at", interval = "1 month", premake = 3,
           timezone = "UTC", primary_key = { "id", "created_at" } }
local cols = { { "id", "bigint not null" }, { "created_at", "timestamptz not null" }, { "note", "text" } }
LUA
    for t in $TABLES; do
        echo "partition \"$t\" { columns = cols, retention = { keep = \"24 months\", archive = \"dump:$S/${t#s_}\" } }"
    done
} >"$T/sec.lua"
run_cmd "$PARTMIG" compile "$T/sec.lua" -o "$T/mig"
assert_eq "$RC" 0 "compile the policies ($ERR)"
run_cmd "$PARTMIG" apply -d "$T/mig"
assert_eq "$RC" 0 "apply registers the policies ($ERR)"

# ---- the traps
echo "precious" >"$S/victims/plink"
echo "precious" >"$S/victims/flink"
mkdir -m 700 "$S/plink" "$S/flink"
ln -s "$S/victims/plink" "$S/plink/public.$(pname s_plink 26).sql.partial"
ln -s "$S/victims/flink" "$S/flink/public.$(pname s_flink 26).sql"
# a hostile partition name, due for retention; public.e exists so that the
# name, pasted into a path, climbs out of the dump directory
psql_q "CREATE TABLE public.\"e/../../x\" (LIKE public.s_evil)"
psql_q "INSERT INTO public.\"e/../../x\" SELECT g, timestamp '$(month 27)' AT TIME ZONE 'UTC' + make_interval(days => g), 'evil' FROM generate_series(1, 3) g"
psql_q "ALTER TABLE public.s_evil ATTACH PARTITION public.\"e/../../x\" FOR VALUES FROM ('$(month 27) 00:00:00+00') TO ('$(month 26) 00:00:00+00')"
mkdir -m 700 "$S/evil" "$S/evil/public.e"
mkdir -m 770 "$S/gw"
chmod 770 "$S/gw" # whatever the umask
mkdir -m 700 "$S/symreal"
ln -s "$S/symreal" "$S/sym"
mkdir -m 700 "$S/owner"
if [ "$(id -u)" = 0 ]; then chown postgres "$S/owner"; else rmdir "$S/owner"; fi

# pg_dump through a wrapper that records its argv and environment
LOG="$T/pg_dump.log"
cat >"$T/pg_dump_wrapper" <<SH
#!/usr/bin/env bash
set -o pipefail
{ printf 'ARGV'; for a in "\$@"; do printf ' [%s]' "\$a"; done; echo
  echo "ENV PGPASSWORD=\${PGPASSWORD:-} PARTMIG_DATABASE_URL=\${PARTMIG_DATABASE_URL:-}"; } >>"$LOG"
if [ -n "\${DAMAGE:-}" ]; then pg_dump "\$@" | sed '/^COPY /{n;d}'; exit \$?; fi
exec pg_dump "\$@"
SH
chmod +x "$T/pg_dump_wrapper"
export PARTMIG_PG_DUMP="$T/pg_dump_wrapper"

# ---- run 1: a URL whose password key is percent-encoded (libpq decodes it)
touch "$T/marker"
sleep 1
URL="postgresql:///postgres?host=$PGHOST&port=$PGPORT&user=postgres&pass%77ord=S3cretPW"
run_cmd "$PARTMIG" maintain --db "$URL"
echo "$OUT"
echo "$ERR"
assert_eq "$RC" 1 "maintain fails for the tables it must refuse"
assert_not_contains "$OUT$ERR" "S3cretPW" "no password in partmig's output"
[ -s "$LOG" ] && pass || fail "pg_dump ran"
assert_not_contains "$(grep '^ARGV' "$LOG")" "S3cretPW" "no password on pg_dump's command line"
assert_contains "$(grep '^ENV' "$LOG")" "PGPASSWORD=S3cretPW" "the password reaches pg_dump through PGPASSWORD"
assert_not_contains "$(grep '^ENV' "$LOG")" "PARTMIG_DATABASE_URL=postgres" "no URL in pg_dump's environment"

# s_ok: both due partitions dumped (0600, in a 0700 directory made by
# partmig) and dropped; the dumps hold the rows
assert_eq "$(stat -c %a "$S/ok")" 700 "dump directory created 0700"
for p in $OLD25_OK $OLD26_OK; do
    assert_eq "$(psql_q "SELECT to_regclass('public.$p') IS NULL")" t "$p dropped after a verified dump"
    assert_eq "$(stat -c %a "$S/ok/public.$p.sql" 2>&1)" 600 "dump of $p is mode 0600"
    assert_contains "$OUT" "public.s_ok: dumped partition $p [" "dump of $p printed"
done
psql_q "CREATE DATABASE scratch"
psql -X -q -v ON_ERROR_STOP=1 -d scratch -f "$S/ok/public.$OLD26_OK.sql" >/dev/null 2>&1 || fail "dump of $OLD26_OK restores"
assert_eq "$(psql -X -A -t -d scratch -c "SELECT count(*) FROM public.$OLD26_OK" 2>&1)" 5 "the restored dump holds the rows"

# a planted .partial symlink: not followed, not removed, the partition kept;
# the other due partition of that table is dumped as usual
P=$(pname s_plink 26)
assert_eq "$(cat "$S/victims/plink")" "precious" "the .partial link's target is not written"
[ -L "$S/plink/public.$P.sql.partial" ] && pass || fail "the planted .partial link is left alone"
assert_eq "$(psql_q "SELECT count(*) FROM public.$P" 2>&1)" 5 "$P kept with its rows (no verified dump)"
[ ! -e "$S/plink/public.$P.sql" ] && pass || fail "no final dump of $P"
assert_contains "$ERR" "public.$P.sql.partial\" exists already" "the planted .partial is reported"
assert_eq "$(psql_q "SELECT to_regclass('public.$(pname s_plink 25)') IS NULL")" t "s_plink's other due partition dumped and dropped"

# a planted final-name symlink: not replaced, not followed, the partition kept
P=$(pname s_flink 26)
assert_eq "$(cat "$S/victims/flink")" "precious" "the final link's target is not written"
[ -L "$S/flink/public.$P.sql" ] && assert_eq "$(readlink "$S/flink/public.$P.sql")" "$S/victims/flink" "the planted final link is left alone" ||
    fail "the planted final link is gone"
assert_eq "$(psql_q "SELECT count(*) FROM public.$P" 2>&1)" 5 "$P kept with its rows"
[ ! -e "$S/flink/public.$P.sql.partial" ] && pass || fail "no .partial of $P left behind"
assert_contains "$ERR" "public.$P.sql\" exists already" "the planted final file is reported"

# the hostile name: refused before anything changes, nothing written outside
assert_eq "$(psql_q "SELECT relispartition FROM pg_class WHERE oid = 'public.\"e/../../x\"'::regclass" 2>&1)" t "the hostile partition stays attached"
assert_eq "$(psql_q "SELECT count(*) FROM public.\"e/../../x\"" 2>&1)" 3 "the hostile partition keeps its rows"
[ ! -e "$S/x.sql" ] && [ ! -e "$S/x.sql.partial" ] && pass || fail "a file was written outside the dump directory"
assert_contains "$ERR" "e/../../x\" cannot be dumped" "the hostile name is reported"
assert_eq "$(psql_q "SELECT to_regclass('public.$(pname s_evil 25)') IS NULL")" t "s_evil's ordinary due partition dumped and dropped"

# unsafe directories: refused, the partitions stay attached
for t in s_gw s_sym s_owner; do
    [ "$t" = s_owner ] && [ "$(id -u)" != 0 ] && continue
    for k in 25 26; do
        assert_eq "$(psql_q "SELECT relispartition FROM pg_class WHERE oid = 'public.$(pname $t $k)'::regclass" 2>&1)" t "$t: $(pname $t $k) stays attached"
    done
done
assert_eq "$(ls -A "$S/gw")" "" "nothing written into the group-writable directory"
assert_contains "$ERR" "dump directory \"$S/gw\" is writable by group or others" "group-writable directory reported"
assert_eq "$(ls -A "$S/symreal")" "" "nothing written through the symlinked directory"
assert_contains "$ERR" "dump directory \"$S/sym\" is a symbolic link" "symlinked directory reported"
if [ "$(id -u)" = 0 ]; then
    assert_eq "$(ls -A "$S/owner")" "" "nothing written into another user's directory"
    assert_contains "$ERR" "dump directory \"$S/owner\" belongs to uid" "another user's directory reported"
fi

# every file written in this run is a dump in its own dump directory, 0600
while read -r f; do
    case "$f" in
        "$S"/ok/public.s_ok_p*.sql | "$S"/plink/public.s_plink_p*.sql | "$S"/flink/public.s_flink_p*.sql | "$S"/evil/public.s_evil_p*.sql)
            assert_eq "$(stat -c %a "$f")" 600 "$f is 0600" ;;
        *) fail "unexpected file written: $f" ;;
    esac
done < <(find "$S" -newer "$T/marker" \( -type f -o -type l \))
assert_eq "$(find "$S" -name '*.partial' ! -type l)" "" "no .partial left behind"

# ---- run 2: a damaged dump is not verified: nothing dropped, nothing left
OLD27=$(pname s_ok 27)
psql_q "CREATE TABLE public.$OLD27 PARTITION OF public.s_ok FOR VALUES FROM ('$(month 27) 00:00:00+00') TO ('$(month 26) 00:00:00+00')"
psql_q "INSERT INTO public.s_ok SELECT 1000 + g, timestamp '$(month 27)' AT TIME ZONE 'UTC' + make_interval(days => g), 'old' FROM generate_series(1, 4) g"
run_cmd env DAMAGE=1 "$PARTMIG" maintain --db "$URL"
assert_contains "$ERR" "holds 3 rows but table \"public.$OLD27\" has 4" "a damaged dump fails verification"
assert_eq "$(psql_q "SELECT count(*) FROM public.$OLD27" 2>&1)" 4 "$OLD27 kept with its rows"
[ ! -e "$S/ok/public.$OLD27.sql" ] && [ ! -e "$S/ok/public.$OLD27.sql.partial" ] && pass || fail "nothing left of the damaged dump"

# ---- run 3: a bare database name as --db; the kept removal is finished,
# and a new due partition removed
OLD28=$(pname s_ok 28)
psql_q "CREATE TABLE public.$OLD28 PARTITION OF public.s_ok FOR VALUES FROM ('$(month 28) 00:00:00+00') TO ('$(month 27) 00:00:00+00')"
psql_q "INSERT INTO public.s_ok SELECT 2000 + g, timestamp '$(month 28)' AT TIME ZONE 'UTC' + make_interval(days => g), 'older' FROM generate_series(1, 2) g"
: >"$LOG"
run_cmd "$PARTMIG" maintain --db postgres
echo "$OUT"
echo "$ERR"
for p in $OLD27 $OLD28; do
    assert_contains "$OUT" "public.s_ok: dumped partition $p" "--db postgres: $p dumped"
    assert_eq "$(psql_q "SELECT to_regclass('public.$p') IS NULL")" t "$p dropped after a verified dump"
    assert_eq "$(stat -c %a "$S/ok/public.$p.sql" 2>&1)" 600 "dump of $p is mode 0600"
done
assert_contains "$(grep '^ARGV' "$LOG")" "[--dbname=dbname='postgres']" "a bare name reaches pg_dump as the dbname"

assert_done
