#!/usr/bin/env bash
# bench/writer_capacity.sh: what a table partitioned by created_at takes of
# swap_compare.sh's writer (tests/tools/rate_writer: UPDATE ... SET amount =
# amount + 1 WHERE id = $1, 2 clients), by partition count -- no partmig
# involved: the same table built directly (100,000 rows, primary key (id,
# created_at), an index on tenant_id, N daily partitions; N = 0: a plain
# table with primary key id).  An id-only lookup cannot prune, so each
# statement plans and probes every partition; once the writer's fixed rate
# is above this capacity, its latency grows until it stops (a backlog, not
# a stall that passes).  Per N, one line: capacity (closed loop, 3 s), the
# fixed-rate run (3 s; last_ms near max_ms: still falling behind at the
# end), and a new session's first and second statement (psql \timing).
# Run by hand:
#   bench/writer_capacity.sh            CAP_PARTS="0 48 200 400 700 1100 1431"  CAP_RATE=300
set -euo pipefail
cd "$(dirname "$0")/.."
export PARTMIG_SOURCE=$PWD
TOOLS=${PARTMIG_TOOLS:-$PWD/build/tests}
RATE=${CAP_RATE:-300}
. tests/lib/pg.sh
pg_start "max_wal_size = 4GB" "shared_buffers = 256MB"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
for n in ${CAP_PARTS:-0 48 200 400 700 1100 1431}; do
    db=s$n
    q postgres "CREATE DATABASE $db"
    days=$n
    if [ "$n" = 0 ]; then
        days=1000
        q $db "CREATE TABLE je (id bigserial PRIMARY KEY, tenant_id int NOT NULL, amount numeric,
            created_at timestamptz NOT NULL)"
    else
        q $db "CREATE TABLE je (id bigserial, tenant_id int NOT NULL, amount numeric, created_at timestamptz NOT NULL,
            PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at)"
        q $db "DO \$\$ BEGIN FOR i IN 0..$n - 1 LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF je FOR VALUES FROM (%L) TO (%L)', 'je_' || i,
                timestamptz '2022-01-01' + i * interval '1 day', timestamptz '2022-01-01' + (i + 1) * interval '1 day');
            END LOOP; END \$\$"
    fi
    q $db "CREATE INDEX ON je (tenant_id);
        INSERT INTO je (tenant_id, amount, created_at) SELECT g % 300, g,
            timestamptz '2022-01-01' + (g::float8 / 100000 * $days) * interval '1 day' FROM generate_series(0, 99999) g"
    q $db "VACUUM ANALYZE je"
    cap=$(PGDATABASE=$db "$TOOLS/rate_writer" je 0 2 3 | sed -n 's/.* tps=\([0-9]*\).*/\1/p')
    fixed=$(PGDATABASE=$db "$TOOLS/rate_writer" je "$RATE" 2 3 | sed -n 's/.* \(tps=[0-9]* max_ms=[0-9.]*\).* \(last_ms=[0-9.]*\)/\1 \2/p')
    first=$(psql -X -q -A -t -d $db -c '\timing on' -c 'UPDATE je SET amount = amount + 1 WHERE id = 5' \
        -c 'UPDATE je SET amount = amount + 1 WHERE id = 6' | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tr '\n' ' ')
    printf 'CAPACITY partitions=%s capacity_tps=%s at_%s: %s first_second_ms=%s(load %s)\n' "$n" "$cap" "$RATE" "$fixed" \
        "$first" "$(cut -d' ' -f1 /proc/loadavg)"
    q postgres "DROP DATABASE $db"
done
