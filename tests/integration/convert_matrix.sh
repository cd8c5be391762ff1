#!/usr/bin/env bash
# convert_matrix.sh: table shapes x partition key types x method, each
# converted while a writer inserts, moves rows across partitions, updates in
# place, deletes and rolls transactions back; every table is compared row
# for row with what committed, then finalized, verified, and status lists no
# unfinished conversion.  Then a bounded property loop: random sequences of
# apply (kill -9 at a random moment, or not), rollback --to 0, apply and
# finalize, the table checked against what committed after each step.
#
# Dimensions:
#   shapes  erp    bigserial id PK + created_at
#           lines  composite PK (doc, seq)
#           wide   identity + generated column + CHECK + NULLable columns + TOASTed text
#           nopk   no primary key, a unique index over NOT NULL columns
#           dflt   an index under PostgreSQL's default name that the policy also declares
#   keys    date, timestamp, timestamptz, integer and bigint ranges,
#           text list with a DEFAULT partition, hash on bigint
#   method  copy; attach (range keys only)
# By default every (shape, key) pair runs once, with attach on about half of
# the range cells, so every pair of dimensions is covered (35 tables);
# PARTMIG_SLOW=1 runs the full product (every range cell both ways: 60).
# Half the tables live in a database owned by a role that is not superuser,
# which runs partmig itself; the other half in schema "erp" (not public) of
# a database partmig runs in as superuser.  The server's TimeZone is
# Asia/Kolkata, and half the time-keyed policies use America/St_Johns.
# One more table has 1,100+ daily partitions (three years, one row a day).
# Then attach of a table keyed only by a unique index: refused before
# anything is recorded without a primary_key in the policy; with one, the
# key is built beforehand and rollback restores the table's own indexes.
# PARTMIG_MATRIX_SEEDS (default "1 10 16": hash, attach and copy tables, each
# killed or rolled back; with PARTMIG_SLOW=1 three more) sets the property
# loop's seeds; PARTMIG_MATRIX_RATE (default 200) the writers' transactions/s.
# About 60 s on 2 busy cores (the full product about 80 s).
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "timezone = 'Asia/Kolkata'" "max_connections = 60"
T0=$(date +%s)
T="$PARTMIG_TEST_DIR"
PGB=${PG_BIN:-/usr/lib/postgresql/15/bin}/pgbench
ROWS=2000
SHAPES="erp lines wide nopk dflt"
KEYS="date timestamp timestamptz integer bigint list hash"

# --- the key types ---------------------------------------------------------
# key_val TYPE D: an expression of TYPE for day number D (1..400), spread
# over the table's whole range
key_val() {
    case $1 in
    date) echo "(current_date - ($2))" ;;
    timestamp) echo "(localtimestamp - ($2) * interval '1 day' - (($2) % 24) * interval '1 hour')" ;;
    timestamptz) echo "(now() - ($2) * interval '1 day' - (($2) % 24) * interval '1 hour')" ;;
    integer) echo "(($2) * 50)" ;;
    bigint) echo "(($2)::bigint * 25000000000)" ;;
    list) echo "((ARRAY['DE','FR','US','CA','JP','BR'])[1 + ($2) % 6])" ;;
    hash) echo "(($2)::bigint * 7919)" ;;
    esac
}
key_type() {
    case $1 in list) echo text ;; hash) echo bigint ;; *) echo "$1" ;; esac
}
is_range() { case $1 in list | hash) return 1 ;; *) return 0 ;; esac; }
# key_policy TYPE COLUMN N: the policy's layout keys
key_policy() {
    local tz=UTC
    [ $(($3 / 2 % 2)) = 1 ] && tz=America/St_Johns
    case $1 in
    date | timestamp | timestamptz) echo "column = \"$2\", interval = \"1 month\", premake = 1, timezone = \"$tz\"" ;;
    integer) echo "column = \"$2\", interval = 1000, premake = 1, naming = \"{table}_from_{N}\"" ;;
    bigint) echo "column = \"$2\", interval = 1000000000000, premake = 1, naming = \"{table}_from_{N}\"" ;;
    list) echo "by = \"list\", column = \"$2\", values = { emea = { \"DE\", \"FR\" }, amer = { \"US\", \"CA\" }, apac = { \"JP\" } }, default_partition = true" ;;
    hash) echo "by = \"hash\", column = \"$2\", modulus = 4" ;;
    esac
}
short() {
    case $1 in date) echo d ;; timestamp) echo ts ;; timestamptz) echo tstz ;; integer) echo int ;;
    bigint) echo big ;; list) echo txt ;; hash) echo hash ;; esac
}

# --- the shapes --------------------------------------------------------------
# Each shape gives: its partition column, its DDL and seed, the policy's
# primary key and indexes, the row a writer picks for :id, and its writes.
part_col() {
    case $1 in erp) echo booked ;; lines) echo posted ;; wide) echo partkey ;; nopk) echo logged ;; dflt) echo placed ;; esac
}
# ident SHAPE A B: A's row is B's row
ident() {
    case $1 in
    lines) echo "$2.doc = $3.doc AND $2.seq = $3.seq" ;;
    nopk) echo "$2.code = $3.code" ;;
    *) echo "$2.id = $3.id" ;;
    esac
}
# pick SHAPE: the row for pgbench's :id
pick() {
    case $1 in
    lines) echo "doc = :id / 10 AND seq = :id % 10" ;;
    nopk) echo "code = :id" ;;
    *) echo "id = :id" ;;
    esac
}
# shape_sql SHAPE QTABLE TYPE KEYTYPE: create and fill
shape_sql() {
    local s=$1 q=$2 ty=$3 kt=$4 v
    v=$(key_val "$kt" "g % 400 + 1")
    case $s in
    erp) cat <<SQL
CREATE TABLE $q (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now(), booked $ty NOT NULL,
  tenant_id int NOT NULL, amount numeric(12,2), note text);
CREATE INDEX ON $q (tenant_id);
INSERT INTO $q (booked, tenant_id, amount, note) SELECT $v, g % 13, g * 1.5, 'n' || g FROM generate_series(1, $ROWS) g;
SQL
        ;;
    lines) cat <<SQL
CREATE TABLE $q (doc bigint NOT NULL, seq int NOT NULL, posted $ty NOT NULL, qty int, PRIMARY KEY (doc, seq));
INSERT INTO $q SELECT g / 10, g % 10, $v, g FROM generate_series(1, $ROWS) g;
CREATE SEQUENCE ${q}_docs START 1000000;
SQL
        ;;
    wide) cat <<SQL
CREATE TABLE $q (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, partkey $ty NOT NULL,
  qty int NOT NULL CHECK (qty >= 0), price numeric(10,2), total numeric GENERATED ALWAYS AS (qty * coalesce(price, 0)) STORED,
  a text, b int, c jsonb, big text);
INSERT INTO $q (partkey, qty, price, a, b, c, big)
  SELECT $v, g % 50, CASE WHEN g % 3 > 0 THEN g % 100 END, CASE WHEN g % 2 = 1 THEN 'a' || g END, NULLIF(g % 5, 0),
    CASE WHEN g % 4 > 0 THEN jsonb_build_object('g', g) END,
    CASE WHEN g % 100 = 0 THEN (SELECT string_agg(md5(g::text || i), '') FROM generate_series(1, 400) i) END
  FROM generate_series(1, $ROWS) g;
SQL
        ;;
    nopk) cat <<SQL
CREATE TABLE $q (code bigint NOT NULL, logged $ty NOT NULL, msg text);
CREATE UNIQUE INDEX ON $q (code, logged);
INSERT INTO $q SELECT g, $v, 'm' || g FROM generate_series(1, $ROWS) g;
CREATE SEQUENCE ${q}_codes START 1000000;
SQL
        ;;
    dflt) cat <<SQL
CREATE TABLE $q (id bigserial PRIMARY KEY, customer_id int NOT NULL, placed $ty NOT NULL, total numeric);
CREATE INDEX ON $q (customer_id);
INSERT INTO $q (customer_id, placed, total) SELECT g % 97, $v, g FROM generate_series(1, $ROWS) g;
SQL
        ;;
    esac
}
shape_policy() {
    case $1 in
    erp) echo 'primary_key = { "id", "booked" },' ;;
    lines) echo 'primary_key = { "doc", "seq", "posted" },' ;;
    wide) echo 'primary_key = { "id", "partkey" },' ;;
    nopk) [ "$2" = attach ] && echo 'primary_key = { "code", "logged" },' ;; # attach needs one
    dflt) echo 'primary_key = { "id", "placed" }, indexes = { { columns = { "customer_id" } } },' ;;
    esac
}
# writes SHAPE QTABLE QEXPECTED KEYTYPE: statements for pgbench, each
# changing the table and, in the same statement, the expected table
w_insert() {
    local s=$1 q=$2 e=$3 v
    v=$(key_val "$4" ":d")
    case $s in
    erp) echo "WITH i AS (INSERT INTO $q (booked, tenant_id, amount, note) VALUES ($v, :d % 13, :d, 'w') RETURNING *) INSERT INTO $e SELECT * FROM i;" ;;
    lines) echo "WITH i AS (INSERT INTO $q VALUES (nextval('${q}_docs'), 1, $v, :d) RETURNING *) INSERT INTO $e SELECT * FROM i;" ;;
    wide) echo "WITH i AS (INSERT INTO $q (partkey, qty, price, a, c, big) VALUES ($v, :d % 7, NULLIF(:d % 3, 0), NULL, '{\"w\": 1}', CASE WHEN :d % 5 = 0 THEN repeat(md5(:d::text), 300) END) RETURNING *) INSERT INTO $e SELECT * FROM i;" ;;
    nopk) echo "WITH i AS (INSERT INTO $q VALUES (nextval('${q}_codes'), $v, 'w') RETURNING *) INSERT INTO $e SELECT * FROM i;" ;;
    dflt) echo "WITH i AS (INSERT INTO $q (customer_id, placed, total) VALUES (:d % 97, $v, :d) RETURNING *) INSERT INTO $e SELECT * FROM i;" ;;
    esac
}
w_update() { # SET clause
    local s=$1 q=$2 e=$3 set=$4
    echo "WITH u AS (UPDATE $q SET $set WHERE $(pick "$s") RETURNING *), x AS (DELETE FROM $e e USING u WHERE $(ident "$s" e u)) INSERT INTO $e SELECT * FROM u;"
}
w_delete() {
    local s=$1 q=$2 e=$3
    echo "WITH d AS (DELETE FROM $q WHERE $(pick "$s") RETURNING *) DELETE FROM $e e USING d WHERE $(ident "$s" e d);"
}
writer_script() {
    local s=$1 q=$2 e=$3 kt=$4 col touch
    col=$(part_col "$s")
    case $s in
    erp) touch="note = note || 'x', amount = amount + 1" ;;
    lines) touch="qty = qty + 1" ;;
    wide) touch="qty = qty + 1, a = CASE WHEN a IS NULL THEN 'set' END, big = big || 'x'" ;;
    nopk) touch="msg = msg || 'x'" ;;
    dflt) touch="total = total + 1" ;;
    esac
    # each write and its record in one transaction that holds :id's
    # advisory lock: two clients on one row would otherwise race (READ
    # COMMITTED: a DELETE that waited for an UPDATE deletes the new row in
    # the table but misses the record the UPDATE re-inserted)
    cat <<SQL
BEGIN;
SELECT pg_advisory_xact_lock(:id);
\\if :op <= 5
$(w_insert "$s" "$q" "$e" "$kt")
\\elif :op <= 10
$(w_update "$s" "$q" "$e" "$col = $(key_val "$kt" ":d")")
\\elif :op <= 13
$(w_update "$s" "$q" "$e" "$touch")
\\elif :op <= 16
$(w_delete "$s" "$q" "$e")
\\else
SAVEPOINT undone;
$(w_update "$s" "$q" "$e" "$col = $(key_val "$kt" ":d")")
$(w_insert "$s" "$q" "$e" "$kt")
$(w_delete "$s" "$q" "$e")
ROLLBACK TO SAVEPOINT undone;
\\endif
COMMIT;
SQL
}

# the lines every writer script starts with
WRITER_VARS='\set id random(1, '$ROWS')
\set d random(1, 400)
\set op random(1, 20)'
# matrix_sql: in each database, the tables by number and a function that
# sends three writes in four to the table being converted (else to any)
matrix_sql() {
    cat <<'SQL'
CREATE TABLE public.matrix_tables (n int PRIMARY KEY, name text NOT NULL);
CREATE FUNCTION public.matrix_pick(r int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE cur int;
BEGIN
  IF r % 4 > 0 AND to_regclass('partmig.conversions') IS NOT NULL THEN
    EXECUTE 'SELECT m.n FROM partmig.conversions c JOIN public.matrix_tables m'
      ' ON m.name = c.table_schema || ''.'' || c.table_name'
      ' WHERE c.state NOT IN (''swapped'', ''finalized'', ''rolled_back'') ORDER BY c.updated_at DESC LIMIT 1' INTO cur;
  END IF;
  RETURN coalesce(cur, 1 + r % (SELECT count(*) FROM public.matrix_tables)::int);
END $$;
SQL
}

# --- the cells ---------------------------------------------------------------
CELLS=()
i=0
for s in $SHAPES; do
    j=0
    for k in $KEYS; do
        if ! is_range "$k"; then
            CELLS+=("$s:$k:copy")
        elif [ "${PARTMIG_SLOW:-0}" = 1 ]; then
            CELLS+=("$s:$k:copy" "$s:$k:attach")
        elif [ $(((i + j) % 2)) = 0 ]; then
            CELLS+=("$s:$k:attach")
        else
            CELLS+=("$s:$k:copy")
        fi
        j=$((j + 1))
    done
    i=$((i + 1))
done
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE app LOGIN;
CREATE DATABASE appdb OWNER app;
CREATE SCHEMA erp;
SQL
# group a: database appdb, schema public, everything as role app;
# group b: database postgres, schema erp, as superuser
declare -A DB=([a]=appdb [b]=postgres) USR=([a]=app [b]=postgres) SCH=([a]=public [b]=erp)
TABLES_a=() TABLES_b=()
declare -A WN=([a]=0 [b]=0)
matrix_sql >"$T/ddl_a.sql"
matrix_sql >"$T/ddl_b.sql"
n=0
for cell in "${CELLS[@]}"; do
    IFS=: read -r s k m <<<"$cell"
    g=a
    [ $((n % 2)) = 1 ] && g=b
    t="${s}_$(short "$k")_$m"
    q="${SCH[$g]}.$t"
    e="${SCH[$g]}.expected_$t"
    mkdir -p "$T/pol_$g" "$T/w_$g"
    {
        shape_sql "$s" "$q" "$(key_type "$k")" "$k"
        echo "CREATE TABLE $e AS SELECT * FROM $q;"
        case $s in
        lines) echo "CREATE INDEX ON $e (doc, seq);" ;;
        nopk) echo "CREATE INDEX ON $e (code);" ;;
        *) echo "CREATE INDEX ON $e (id);" ;;
        esac
    } >"$T/ddl_$g.sql.part"
    cat "$T/ddl_$g.sql.part" >>"$T/ddl_$g.sql"
    cat >"$T/pol_$g/$t.lua" <<LUA
partition "$t" { schema = "${SCH[$g]}", $(key_policy "$k" "$(part_col "$s")" "$n"), $(shape_policy "$s" "$m")
  existing = { method = "$m", batch_size = 200 } }
LUA
    WN[$g]=$((WN[$g] + 1))
    writer_script "$s" "$q" "$e" "$k" >"$T/w_$g/${WN[$g]}.sql"
    echo "INSERT INTO public.matrix_tables VALUES (${WN[$g]}, '$q');" >>"$T/ddl_$g.sql"
    if [ $g = a ]; then TABLES_a+=("$t:$cell"); else TABLES_b+=("$t:$cell"); fi
    n=$((n + 1))
done
# 1,100+ daily partitions: three years, one row a day (group b)
cat >>"$T/ddl_b.sql" <<'SQL'
CREATE TABLE erp.daily (id bigserial PRIMARY KEY, day date NOT NULL, v int NOT NULL DEFAULT 0);
INSERT INTO erp.daily (day, v) SELECT current_date - g, g FROM generate_series(1, 1100) g;
CREATE TABLE erp.expected_daily AS SELECT * FROM erp.daily;
SQL
cat >"$T/pol_b/daily.lua" <<'LUA'
partition "daily" { schema = "erp", column = "day", interval = "1 day", premake = 2, primary_key = { "id", "day" },
  existing = { method = "copy", batch_size = 500 } }
LUA
WN[b]=$((WN[b] + 1))
echo "INSERT INTO public.matrix_tables VALUES (${WN[b]}, 'erp.daily');" >>"$T/ddl_b.sql"
cat >"$T/w_b/${WN[b]}.sql" <<'SQL'
BEGIN;
SELECT pg_advisory_xact_lock(:id);
\if :op <= 6
WITH u AS (UPDATE erp.daily SET day = current_date - :d * 2, v = v + 1 WHERE id = :id RETURNING *), x AS (DELETE FROM erp.expected_daily e USING u WHERE e.id = u.id) INSERT INTO erp.expected_daily SELECT * FROM u;
\elif :op <= 12
WITH i AS (INSERT INTO erp.daily (day) VALUES (current_date - :d * 2) RETURNING *) INSERT INTO erp.expected_daily SELECT * FROM i;
\else
WITH d AS (DELETE FROM erp.daily WHERE id = :id RETURNING *) DELETE FROM erp.expected_daily e USING d WHERE e.id = d.id;
\endif
COMMIT;
SQL
TABLES_b+=("daily:daily:date:copy")
psql -X -q -v ON_ERROR_STOP=1 -U app -d appdb -f "$T/ddl_a.sql" >/dev/null || fail "create group a"
psql -X -q -v ON_ERROR_STOP=1 -f "$T/ddl_b.sql" >/dev/null || fail "create group b"
psql -X -q -U app -d appdb -c ANALYZE
psql -X -q -c ANALYZE
echo "matrix: ${#CELLS[@]} cells + daily; tables created in $(($(date +%s) - T0)) s"

for g in a b; do
    run_cmd "$PARTMIG" compile "$T/pol_$g" -o "$T/mig_$g"
    assert_eq "$RC" 0 "compile group $g ($ERR)"
done

# fp DB QTABLE QEXPECTED: "same" when both hold the same rows, in one snapshot
fp_sql() { echo "(SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM $1 t)"; }
same() {
    psql -X -q -A -t -U "$1" -d "$2" -c "SELECT CASE WHEN $(fp_sql "$3") = $(fp_sql "$4") THEN 'same' ELSE $(fp_sql "$3") || ' vs ' || $(fp_sql "$4") END"
}
# writers: one pgbench per database running one script: three writes in
# four go to the table being converted
writer_all() { # GROUP
    local i
    echo "$WRITER_VARS"
    echo '\set r random(0, 1000000)'
    echo 'SELECT public.matrix_pick(:r) AS cur \gset'
    for ((i = 1; i <= WN[$1]; i++)); do
        [ $i = 1 ] && echo '\if :cur = 1' || echo "\\elif :cur = $i"
        cat "$T/w_$1/$i.sql"
    done
    echo '\endif'
}
start_writers() {
    local g
    for g in a b; do
        writer_all $g >"$T/writer_$g.sql"
        "$PGB" -n -U "${USR[$g]}" -d "${DB[$g]}" -c 3 -j 1 -R "${PARTMIG_MATRIX_RATE:-200}" -T 900 -f "$T/writer_$g.sql" >"$T/pgbench_$g.out" 2>&1 &
        eval "WPID_$g=$!"
    done
}
stop_writers() {
    kill -TERM "$WPID_a" "$WPID_b" 2>/dev/null
    wait "$WPID_a" "$WPID_b" 2>/dev/null
    local g
    for g in a b; do
        assert_eq "$(grep -ciE 'error|abort' "$T/pgbench_$g.out")" 0 "no writer statement failed in group $g: $(grep -iE 'error|abort' "$T/pgbench_$g.out" | head -3)"
        # the failed command's text (one command a line)
        grep -oE 'aborted in command [0-9]+' "$T/pgbench_$g.out" | awk '{print $4 + 1}' | sort -u |
            while read -r line; do echo "  command: $(sed -n "${line}p" "$T/writer_$g.sql")"; done
    done
}
start_writers
sleep 1
for g in a b; do
    (
        s=$(date +%s.%N)
        PGUSER=${USR[$g]} PGDATABASE=${DB[$g]} "$PARTMIG" apply -d "$T/mig_$g" --sleep 10 >"$T/apply_$g.out" 2>&1
        echo "rc=$? secs=$(echo "$(date +%s.%N) - $s" | bc)" >>"$T/apply_$g.out"
    ) &
    eval "APID_$g=$!"
done
wait "$APID_a" "$APID_b"
for g in a b; do
    # the writers' overlap with the copies: keys changed during a copy
    echo "group $g ($(tail -n 1 "$T/apply_$g.out")): $(grep -oE 're-copied [0-9]+' "$T/apply_$g.out" |
        awk '{n++; k += $2} END {printf "%d re-copy passes, %d changed keys", n, k}')"
    assert_contains "$(tail -n 1 "$T/apply_$g.out")" "rc=0" "apply group $g as ${USR[$g]}: $(grep -E 'partmig:|hint:' "$T/apply_$g.out" | grep -vE 'note|converted|copied|swapped|created|verified|re-copied' | head -8)"
done
# the tables, each against what committed, while the writers still write
check_all() { # STEP
    local g entry t s k m
    for g in a b; do
        eval "entries=(\"\${TABLES_$g[@]}\")"
        for entry in "${entries[@]}"; do
            IFS=: read -r t s k m <<<"$entry"
            assert_eq "$(same "${USR[$g]}" "${DB[$g]}" "${SCH[$g]}.$t" "${SCH[$g]}.expected_$t")" same "$1: ${SCH[$g]}.$t ($s, $k, $m) holds what committed"
        done
    done
}
for g in a b; do
    eval "entries=(\"\${TABLES_$g[@]}\")"
    for entry in "${entries[@]}"; do
        IFS=: read -r t s k m <<<"$entry"
        assert_eq "$(psql -X -A -t -U "${USR[$g]}" -d "${DB[$g]}" -c "SELECT relkind FROM pg_class WHERE oid = '${SCH[$g]}.$t'::regclass")" p "${SCH[$g]}.$t ($s, $k, $m) is partitioned"
    done
done
check_all "after apply"
assert_eq "$(psql -X -A -t -c "SELECT count(*) > 1100 FROM pg_partition_tree('erp.daily') WHERE isleaf")" t "daily has 1,100+ partitions"
for g in a b; do
    eval "entries=(\"\${TABLES_$g[@]}\")"
    for entry in "${entries[@]}"; do
        IFS=: read -r t s k m <<<"$entry"
        [ "$s" = dflt ] || continue
        assert_eq "$(psql -X -A -t -U "${USR[$g]}" -d "${DB[$g]}" -c "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = '${SCH[$g]}.$t'::regclass AND c.relname = '${t}_customer_id_idx' AND c.relkind = 'I' AND pg_get_indexdef(i.indexrelid) LIKE '%(customer_id)'")" 1 "${SCH[$g]}.$t: the declared index under its default name is on the partitioned table"
    done
done
# finalize every table (writers still running), verify, status
for g in a b; do
    eval "entries=(\"\${TABLES_$g[@]}\")"
    for entry in "${entries[@]}"; do
        t=${entry%%:*}
        run_cmd env PGUSER="${USR[$g]}" PGDATABASE="${DB[$g]}" "$PARTMIG" finalize "${SCH[$g]}.$t" --wait 30
        assert_eq "$RC" 0 "finalize ${SCH[$g]}.$t as ${USR[$g]} ($ERR)"
    done
    run_cmd env PGUSER="${USR[$g]}" PGDATABASE="${DB[$g]}" "$PARTMIG" verify -d "$T/mig_$g"
    assert_eq "$RC" 0 "verify group $g ($OUT $ERR)"
    run_cmd env PGUSER="${USR[$g]}" PGDATABASE="${DB[$g]}" "$PARTMIG" status -d "$T/mig_$g"
    assert_eq "$RC" 0 "status group $g ($ERR)"
    assert_not_contains "$OUT" "conversions not finished" "status group $g lists no unfinished conversion"
done
sleep 0.5
stop_writers
check_all "after finalize"
echo "matrix done in $(($(date +%s) - T0)) s"

# --- attach of a table keyed only by a unique index ---------------------------
# Without a primary key in the policy, pre-flight refuses it and records
# nothing; with one, the attach builds its key index beforehand (not under
# the attach's lock), and rollback gives back the table with exactly its own
# indexes and constraints.
psql_q "CREATE DATABASE nopk OWNER app"
psql -X -q -v ON_ERROR_STOP=1 -U app -d nopk <<'SQL'
CREATE TABLE public.lg (code bigint NOT NULL, logged date NOT NULL, msg text);
CREATE UNIQUE INDEX ON public.lg (code, logged);
INSERT INTO public.lg SELECT g, current_date - g % 300, 'm' FROM generate_series(1, 2000) g;
SQL
mkdir -p "$T/nopk/pol"
echo 'partition "lg" { column = "logged", interval = "1 month", existing = { method = "attach" } }' >"$T/nopk/pol/lg.lua"
"$PARTMIG" compile "$T/nopk/pol" -o "$T/nopk/mig" >/dev/null 2>&1 || fail "compile nopk"
run_cmd env PGUSER=app PGDATABASE=nopk "$PARTMIG" apply -d "$T/nopk/mig"
assert_eq "$RC" 2 "attach without a key in the policy is refused ($ERR)"
assert_contains "$ERR" 'add `primary_key = { "code", "logged" }`' "the fix names the unique index's columns"
assert_eq "$(psql -X -A -t -U app -d nopk -c "SELECT count(*) FROM partmig.conversions" 2>&1)" 0 "nothing recorded"
objects() {
    psql -X -A -t -U app -d nopk -c "SELECT string_agg(x, ' ' ORDER BY x) FROM (
      SELECT 'index:' || c.relname || ':' || pg_get_indexdef(i.indexrelid) AS x FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'public.lg'::regclass
      UNION ALL SELECT 'constraint:' || conname || ':' || contype::text FROM pg_constraint WHERE conrelid = 'public.lg'::regclass) o"
}
before=$(objects)
echo 'partition "lg" { column = "logged", interval = "1 month", primary_key = { "code", "logged" }, existing = { method = "attach" } }' >"$T/nopk/pol/lg.lua"
"$PARTMIG" compile "$T/nopk/pol" -o "$T/nopk/mig" >/dev/null 2>&1 || fail "compile nopk again"
run_cmd env PGUSER=app PGDATABASE=nopk "$PARTMIG" apply -d "$T/nopk/mig"
assert_eq "$RC" 0 "attach with the unique index's columns as primary key ($ERR)"
assert_eq "$(psql -X -A -t -U app -d nopk -c "SELECT string_agg(contype::text || ':' || conname, ' ' ORDER BY conname) FROM pg_constraint WHERE conrelid = 'public.lg_legacy'::regclass AND contype IN ('p', 'u')")" "u:lg_partmig_key" "the attached table's key backs a constraint made before the attach, not one ATTACH built under its lock"
run_cmd env PGUSER=app PGDATABASE=nopk "$PARTMIG" rollback --to 0 -d "$T/nopk/mig"
assert_eq "$RC" 0 "rollback ($ERR)"
assert_eq "$(objects)" "$before" "rollback leaves the table with exactly its own indexes and constraints"
assert_eq "$(psql -X -A -t -U app -d nopk -c "SELECT count(*) FROM public.lg")" 2000 "every row"

# --- property loop -------------------------------------------------------------
# one small table per seed; a writer (pgbench) runs throughout; steps drawn
# from the seed: apply (killed with -9 after a random delay, or not) and
# rollback --to 0, then a full apply and finalize; after each step the table
# equals what committed
SEEDS="1 10 16"
[ "${PARTMIG_SLOW:-0}" = 1 ] && SEEDS="1 10 16 4 7 21"
for seed in ${PARTMIG_MATRIX_SEEDS:-$SEEDS}; do
    RANDOM=$((seed * 7919 + 17))
    shapes=($SHAPES) keys=(date timestamptz integer list hash)
    s=${shapes[RANDOM % 5]}
    k=${keys[RANDOM % 5]}
    m=copy
    if is_range "$k" && [ $((RANDOM % 2)) = 1 ]; then m=attach; fi
    db=prop$seed
    t="${s}_$(short "$k")_$m"
    psql_q "CREATE DATABASE $db OWNER app"
    {
        shape_sql "$s" "public.$t" "$(key_type "$k")" "$k" | sed "s/$ROWS) g/$((ROWS * 5))) g/"
        echo "CREATE TABLE public.expected_$t AS SELECT * FROM public.$t;"
        echo "ANALYZE;"
    } | psql -X -q -v ON_ERROR_STOP=1 -U app -d "$db" >/dev/null || fail "seed $seed: create $t"
    mkdir -p "$T/p$seed/pol"
    cat >"$T/p$seed/pol/$t.lua" <<LUA
partition "$t" { $(key_policy "$k" "$(part_col "$s")" "$seed"), $(shape_policy "$s" "$m")
  existing = { method = "$m", batch_size = 500 } }
LUA
    "$PARTMIG" compile "$T/p$seed/pol" -o "$T/p$seed/mig" >/dev/null 2>&1 || fail "seed $seed: compile"
    { echo "$WRITER_VARS"; writer_script "$s" "public.$t" "public.expected_$t" "$k"; } >"$T/p$seed/w.sql"
    "$PGB" -n -U app -d "$db" -c 2 -j 1 -R 100 -T 900 -f "$T/p$seed/w.sql" >"$T/p$seed/pgbench.out" 2>&1 &
    wpid=$!
    steps=""
    nsteps=$((2 + RANDOM % 3))
    for ((x = 0; x < nsteps; x++)); do
        case $((RANDOM % 3)) in
        0) steps="$steps apply" ;;
        1) steps="$steps kill$((RANDOM % 600))" ;;
        2) steps="$steps rollback" ;;
        esac
    done
    steps="$steps apply finalize"
    echo "seed $seed: $t ($s, $k, $m):$steps"
    for st in $steps; do
        case $st in
        apply) run_cmd env PGUSER=app PGDATABASE=$db "$PARTMIG" apply -d "$T/p$seed/mig" --wait 30 ;;
        rollback) run_cmd env PGUSER=app PGDATABASE=$db "$PARTMIG" rollback --to 0 -d "$T/p$seed/mig" --wait 30 ;;
        finalize) run_cmd env PGUSER=app PGDATABASE=$db "$PARTMIG" finalize "public.$t" --wait 30 ;;
        kill*)
            PGUSER=app PGDATABASE=$db "$PARTMIG" apply -d "$T/p$seed/mig" --wait 30 >"$T/p$seed/killed.out" 2>&1 &
            apid=$!
            sleep "$(printf '0.%03d' "${st#kill}")"
            kill -9 "$apid" 2>/dev/null
            wait "$apid" 2>/dev/null
            RC=0 ERR=""
            ;;
        esac
        assert_eq "$RC" 0 "seed $seed: $st ($ERR)"
        assert_eq "$(same app "$db" "public.$t" "public.expected_$t")" same "seed $seed: after $st the table holds what committed"
    done
    assert_eq "$(psql -X -A -t -U app -d "$db" -c "SELECT relkind FROM pg_class WHERE oid = 'public.$t'::regclass")" p "seed $seed: $t ends partitioned"
    run_cmd env PGUSER=app PGDATABASE=$db "$PARTMIG" verify -d "$T/p$seed/mig"
    assert_eq "$RC" 0 "seed $seed: verify ($OUT $ERR)"
    run_cmd env PGUSER=app PGDATABASE=$db "$PARTMIG" status -d "$T/p$seed/mig"
    assert_not_contains "$OUT" "conversions not finished" "seed $seed: status lists no unfinished conversion"
    kill -TERM "$wpid" 2>/dev/null
    wait "$wpid" 2>/dev/null
    assert_eq "$(grep -ciE 'error|abort' "$T/p$seed/pgbench.out")" 0 "seed $seed: no writer statement failed: $(grep -iE 'error|abort' "$T/p$seed/pgbench.out" | head -3)"
    assert_eq "$(same app "$db" "public.$t" "public.expected_$t")" same "seed $seed: at the end the table holds what committed"
done
echo "convert_matrix: $(($(date +%s) - T0)) s in all"
assert_done
