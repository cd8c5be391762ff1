#!/usr/bin/env bash
# undo_log_plans.sh: the undo log's trigger function keeps one cached plan
# per partition's copy of it in a writer's session.  PL/pgSQL compiles a
# trigger function once per trigger (one per partition here), each copy
# keeping a plan per statement and expression it ran, and every relation
# invalidation (a trigger made or dropped on a partition: thousands at
# finalize) makes each session walk all of them: at five a copy, finalize
# at 1,431 partitions stalled a writer for up to a second.  A session that
# deletes a row in every partition and moves a key within one has at most
# one plan source per trigger it fired, and the undo log has their keys.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
T=$PARTMIG_TEST_DIR

orders_copy_policy "$T"
psql_q "CREATE TABLE public.orders (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, amount numeric NOT NULL);
    INSERT INTO public.orders (created_at, amount)
        SELECT now() - (g % 700) * interval '1 day', g FROM generate_series(1, 7000) g" >/dev/null
run_cmd "$PARTMIG" apply -d "$T/mig" --jobs 2
assert_eq "$RC" 0 "apply converts orders ($ERR)"

# one row of each partition that has rows, deleted in one session; a key
# changed in place in another partition's row (the key-move trigger)
out=$(psql -X -q -A -t -v ON_ERROR_STOP=1 <<'SQL' 2>&1
CREATE TEMPORARY TABLE victims AS
    SELECT DISTINCT ON (tableoid) id, tableoid::regclass AS part FROM public.orders ORDER BY tableoid, id;
DELETE FROM public.orders o USING victims v WHERE o.id = v.id;
UPDATE public.orders SET id = id + 1000000
    WHERE id = (SELECT min(id) FROM public.orders WHERE id NOT IN (SELECT id FROM victims));
SELECT (SELECT count(*) FROM victims) || ' ' ||
       (SELECT count(*) FROM pg_backend_memory_contexts WHERE name = 'CachedPlanSource');
SQL
)
read -r parts plans <<<"$out"
case "$parts $plans" in *[!0-9\ ]*|" "*) echo "FAIL: the session failed: $out" >&2; exit 1 ;; esac
assert_eq "$(( parts >= 20 ))" 1 "rows deleted in 20 partitions or more ($out)"
# a trigger a partition for the deletes, one more for the move
assert_eq "$(( plans <= parts + 1 ))" 1 "at most one cached plan per trigger fired: $plans plans for $parts partitions and a move"
cid=$(psql_q "SELECT id FROM partmig.conversions")
assert_eq "$(psql_q "SELECT count(*) FROM partmig.conv_${cid}_undo")" "$((parts + 2))" \
    "the undo log has each deleted key and the moved key's old and new"

run_cmd "$PARTMIG" finalize public.orders
assert_eq "$RC" 0 "finalize ($ERR)"
assert_eq "$(psql_q "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'partmig%'")" 0 "no partmig trigger left"
assert_done
