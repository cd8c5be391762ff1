# tests/lib/pg.sh: start a throwaway PostgreSQL 15 for one test script.
#
#   . "$PARTMIG_SOURCE/tests/lib/pg.sh"
#   pg_start            # exports PGHOST PGPORT PGUSER PGDATABASE, PARTMIG_TEST_DIR
#   ...                 # psql/partmig just work; the cluster is removed on exit
#
# PostgreSQL refuses to run as root: as root the cluster runs as the
# "postgres" system user (runuser); otherwise as the current user.
# No test skips when PostgreSQL is missing: that is a failure.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null)}

pg_as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_free_port() {
    python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

pg_stop() {
    if [ -n "${PARTMIG_TEST_DIR:-}" ] && [ -d "$PARTMIG_TEST_DIR" ]; then
        if [ -f "$PARTMIG_TEST_DIR/data/postmaster.pid" ]; then
            pg_as_owner "$PG_BIN/pg_ctl" -D "$PARTMIG_TEST_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        fi
        rm -rf "$PARTMIG_TEST_DIR"
    fi
}

# pg_start [extra postgresql.conf lines...]
pg_start() {
    if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
        echo "FAIL: PostgreSQL 15 server binaries not found (install postgresql-15)" >&2
        exit 1
    fi
    PARTMIG_TEST_DIR=$(mktemp -d /tmp/partmig-test.XXXXXX)
    export PARTMIG_TEST_DIR
    chmod 755 "$PARTMIG_TEST_DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$PARTMIG_TEST_DIR"
    trap pg_stop EXIT
    pg_as_owner "$PG_BIN/initdb" -D "$PARTMIG_TEST_DIR/data" -U postgres --auth=trust \
        --encoding=UTF8 --locale=C.UTF-8 >"$PARTMIG_TEST_DIR/initdb.log" 2>&1 ||
        { cat "$PARTMIG_TEST_DIR/initdb.log" >&2; exit 1; }
    PGPORT=$(pg_free_port)
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $PGPORT"
        echo "unix_socket_directories = '$PARTMIG_TEST_DIR'"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
        echo "max_connections = 50"
        for line in "$@"; do echo "$line"; done
    } | pg_as_owner tee -a "$PARTMIG_TEST_DIR/data/postgresql.conf" >/dev/null
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PARTMIG_TEST_DIR/data" -l "$PARTMIG_TEST_DIR/server.log" -w -t 60 start >/dev/null ||
        { cat "$PARTMIG_TEST_DIR/server.log" >&2; exit 1; }
    export PGHOST="$PARTMIG_TEST_DIR" PGPORT PGUSER=postgres PGDATABASE=postgres
    unset PGPASSWORD PARTMIG_DATABASE_URL
}

# Restart the server (e.g. to test resume after a PostgreSQL restart).
pg_restart() {
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PARTMIG_TEST_DIR/data" -m fast -w restart -l "$PARTMIG_TEST_DIR/server.log" >/dev/null
}

# psql_q SQL: one value, no alignment, stops the test on SQL errors.
psql_q() {
    psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"
}

# SQL that is true when ALIAS's row, in the new table of conversion CID,
# was written since its swap: an xmin the swap's snapshot does not see and
# not the swap's own (sql/conversion.sql; NULL once the log is sealed and
# complete alone).  A throwaway cluster's ids are in epoch 0: xmin is the
# full id.
written_since_swap() {
    echo "(SELECT $2.xmin::text::bigint IS DISTINCT FROM c.undo_swap_xid AND NOT txid_visible_in_snapshot($2.xmin::text::bigint, c.undo_snapshot::txid_snapshot) FROM partmig.conversions c WHERE c.id = $1)"
}

# early_transaction DB OUT SQL: in the background, a transaction in DB that
# takes its id now (writing public.marker, made here), stays open until a
# conversion is swapped, then runs SQL and commits (psql's output in OUT,
# its pid in EARLY_PID).  Returns once the transaction has its id: older
# than anything a conversion started after this writes.
early_transaction() {
    PGDATABASE=$1 psql_q "CREATE TABLE IF NOT EXISTS public.marker (x int)" >/dev/null
    {
        cat <<'SQL'
BEGIN;
INSERT INTO public.marker VALUES (1);
DO $$ DECLARE s boolean := false; BEGIN
  WHILE NOT s AND clock_timestamp() < statement_timestamp() + interval '120 seconds' LOOP
    PERFORM pg_sleep(0.02);
    -- the catalog read, not to_regclass: its cache would keep saying
    -- "no such table" to this session (no lock taken, no invalidation read)
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'partmig' AND c.relname = 'conversions') THEN
      EXECUTE 'SELECT EXISTS (SELECT 1 FROM partmig.conversions WHERE state = ''swapped'')' INTO s;
    END IF;
  END LOOP;
END $$;
SQL
        printf '%s\nCOMMIT;\n' "$3"
    } | PGDATABASE=$1 PGAPPNAME=partmig_test_early psql -X -q -v ON_ERROR_STOP=1 >"$2" 2>&1 &
    EARLY_PID=$!
    for _ in $(seq 1 200); do
        [ "$(PGDATABASE=$1 psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'partmig_test_early' AND backend_xid IS NOT NULL")" = 1 ] && return 0
        sleep 0.05
    done
    return 1
}

# fingerprint TABLE: public.TABLE's row count and the md5 of its rows in id
# order, to compare a table with what was committed, row for row.
fingerprint() {
    psql_q "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM public.$1 t"
}

# orders_copy_policy DIR: the one-table policy the undo log's tests convert
# (public.orders by created_at, monthly, premake 2, primary key (id,
# created_at), the copy method), compiled into DIR/mig; a failed compile
# is a failed check (tests/lib/assert.sh).
orders_copy_policy() {
    mkdir -p "$1/pol"
    cat >"$1/pol/orders.lua" <<'LUA'
partition "orders" { schema = "public", column = "created_at", interval = "1 month", premake = 2,
  primary_key = { "id", "created_at" }, existing = { method = "copy" } }
LUA
    run_cmd "$PARTMIG" compile "$1/pol" -o "$1/mig"
    assert_eq "$RC" 0 "compile ($ERR)"
}

# writer_ready STOP PID: wait until rate_writer PID (started with the stop
# file STOP) has every client connected and warm (STOP.ready), up to 120 s;
# fails if it ended first.  Its schedule starts then.
writer_ready() {
    local _
    for _ in $(seq 1200); do
        [ -e "$1.ready" ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
