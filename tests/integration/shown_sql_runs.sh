#!/usr/bin/env bash
# shown_sql_runs.sh: the "the runtime runs" blocks of a compiled migration
# are the SQL the runtime really sends.  The ERP migration is applied to the
# three plain ERP tables on a server that logs every statement; each
# statement the ensure_table (conversion) and build_index blocks show must be
# in the server's log, a :placeholder matching whatever value the database
# supplied (but for the statements of cases this run does not meet), and
# the policy's index, the undo log's trigger and the swap in the order shown.
# And the committed ERP file shows PARTITION BY.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "log_statement = 'all'"
LOG="$PARTMIG_TEST_DIR/server.log"

assert_eq "$(grep -c 'PARTITION BY RANGE' migrations/0001_erp.sql)" 3 "migrations/0001_erp.sql shows PARTITION BY"
assert_eq "$(grep -c 'PRIMARY KEY ("id", "created_at")' migrations/0001_erp.sql)" 6 "and the policy's primary keys (per partition, then the parent's: on the whole table, or ON ONLY)"

psql -X -q -v ON_ERROR_STOP=1 -f tests/fixtures/erp_schema.sql
bash tests/fixtures/erp_data.sh 3000 1000 500 >/dev/null
MIG="$PARTMIG_TEST_DIR/migrations"
run_cmd "$PARTMIG" compile policies/erp.lua -o "$MIG"
assert_eq "$RC" 0 "compile ($ERR)"
F=$(ls "$MIG"/0001_*.sql)

run_cmd "$PARTMIG" apply -d "$MIG"
assert_eq "$RC" 0 "apply converts the three tables ($ERR)"

# the shown statements of ensure_table and build_index steps, one per line:
# "--   SQL" lines, with "--       ..." continuation lines joined
# the batch after the first has its own statement: shown, and checked when
# the copy took more than one batch
batches=$(psql_q "SELECT coalesce(min(n), 0) FROM (SELECT count(*) n FROM partmig.batches GROUP BY conversion) b")
run_cmd python3 - "$F" "$LOG" "$batches" <<'PY'
import re, sys
path, log, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(log, encoding="utf-8", errors="replace").read()
# statistics per partition over the jobs: only with jobs > 1 and large
# partitions (the ERP policies have one job)
split = "SET LOCAL default_statistics_target = 1" in text
action, table, methods, stmts = None, None, {}, []
for line in open(path, encoding="utf-8"):
    line = line.rstrip("\n")
    m = re.match(r"-- partmig:step \d+ action=(\w+) .*table=(\S+)", line)
    if m:
        action, table = m.group(1), m.group(2)
        mm = re.search(r" method=(\w+)", line)
        if mm:
            methods[table] = mm.group(1)
        continue
    if action not in ("ensure_table", "build_index"):
        continue
    if line.startswith("--       ") and stmts:
        stmts[-1] = (stmts[-1][0], stmts[-1][1], stmts[-1][2] + " " + line[9:])
    elif line.startswith("--   "):
        stmts.append((action, table, line[5:]))
missing, pos = 0, {}
for action, table, s in stmts:
    s = s.rstrip(";")
    # :index_definition: one statement per secondary index of the old table
    # (workflow_logs has none)
    optional = ":index_definition" in s or (":key_lo" in s and batches < 2)
    optional = optional or (not split and ("SET STATISTICS" in s or "default_statistics_target" in s or
                                           re.match(r'ANALYZE "[^"]+"\.:partition$', s)))
    # a parent index ON ONLY, each partition's attached: for an index of
    # the same columns as another, or after an interrupted apply (the ERP
    # run meets neither: each is made on the whole new table)
    optional = optional or (action == "ensure_table" and methods.get(table) == "copy" and
                            (" ON ONLY " in s or "ALTER TABLE ONLY" in s and "PRIMARY KEY" in s or
                             re.match(r"ALTER INDEX .* ATTACH PARTITION", s)))
    # build_index after a copy conversion: the index was built before the
    # swap, the step only records it (checked below)
    optional = optional or (action == "build_index" and methods.get(table) == "copy")
    pattern = ""
    for part in re.split(r"(:[a-z_]+)", s):
        if part.startswith(":partition"):
            pattern += r'"?[\w$]+"?'  # a (partition's index) name
        elif part.startswith(":") and len(part) > 1:
            pattern += ".+?"
        else:
            pattern += re.escape(part)
    m = re.search(pattern, text)
    if m:
        pos[(table, s)] = m.start()
        print("ran:", s)
    elif not optional:
        print("NOT RUN (%s): %s" % (action, s))
        missing += 1
# the order: the policy's index built on each partition and on the new
# table's parent (staged name, on the whole table), the undo log's trigger made on the new
# table, then the swap (its lock, the staged index renamed to the policy's name)
order = [r"CREATE INDEX IF NOT EXISTS :partition_tenant_id_idx ON ",
         r'CREATE INDEX IF NOT EXISTS "pm:id_pix0" ON "public"\."journal_entries_partmig_new" ',
         r'SELECT partmig\.conversion_install_undo_log\(',
         r'LOCK TABLE "public"\."journal_entries_partmig_new", "public"\."journal_entries" ',
         r'ALTER INDEX "public"\."pm:id_pix0" RENAME TO "journal_entries_tenant_id_idx"$']
last = -1
for o in order:
    hits = [s for (t, s) in pos if t == "public.journal_entries" and re.match(o, s)]
    if len(hits) != 1:
        print("NOT SHOWN AND RUN (once) in the journal_entries conversion: %s (%d)" % (o, len(hits)))
        missing += 1
    elif pos[("public.journal_entries", hits[0])] <= last:
        print("OUT OF ORDER: %s" % hits[0])
        missing += 1
    else:
        last = pos[("public.journal_entries", hits[0])]
print("shown statements: %d, not run: %d" % (len(stmts), missing))
sys.exit(1 if missing or len(stmts) < 40 else 0)
PY
echo "$OUT" | tail -n 5
assert_eq "$RC" 0 "every statement the blocks show ran, in order ($(echo "$OUT" | grep '^NOT \|^OUT OF' | head -5))"

# the build_index step after the copy conversion built nothing (no
# CREATE INDEX CONCURRENTLY reached the server) and recorded every
# partition's index of journal_entries_tenant_id_idx, all attached
assert_eq "$(grep -c 'CREATE INDEX CONCURRENTLY' "$LOG")" 0 "build_index built no index after the copy conversion"
step=$(sed -n 's/^-- partmig:step \([0-9]*\) action=build_index .*index=journal_entries_tenant_id_idx .*/\1/p' "$F")
parts=$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.journal_entries'::regclass")
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.journal_entries_tenant_id_idx'::regclass")" "$parts" "each partition's index attached ($parts partitions)"
assert_eq "$(psql_q "SELECT count(*) FROM partmig.step_objects WHERE version = 1 AND step = $step AND kind = 'index'")" "$parts" "build_index recorded each partition's index"

# the attach method, in a database of its own: every statement its
# ensure_table and build_index blocks show reaches the server (the policy's
# index built by the build_index step, CONCURRENTLY, after the attach)
createdb attachdb
export PGDATABASE=attachdb
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.events (id bigserial PRIMARY KEY, happened_at timestamptz NOT NULL, account_id int NOT NULL);
INSERT INTO public.events (happened_at, account_id)
SELECT now() - i * interval '1 day', i % 7 FROM generate_series(1, 90) i;
SQL
mkdir -p "$PARTMIG_TEST_DIR/attach_policies"
cat >"$PARTMIG_TEST_DIR/attach_policies/events.lua" <<'LUA'
partition "events" {
  schema = "public", by = "range", column = "happened_at", interval = "1 month", premake = 2, timezone = "UTC",
  primary_key = { "id", "happened_at" },
  indexes = { { columns = { "account_id" } } },
  existing = { method = "attach" },
}
LUA
run_cmd "$PARTMIG" compile "$PARTMIG_TEST_DIR/attach_policies" -o "$PARTMIG_TEST_DIR/attach_migrations"
assert_eq "$RC" 0 "compile the attach policy ($ERR)"
AF=$(ls "$PARTMIG_TEST_DIR"/attach_migrations/0001_*.sql)
run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/attach_migrations"
assert_eq "$RC" 0 "apply attaches events ($ERR)"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.events'::regclass")" "p" "events is partitioned"
run_cmd python3 - "$AF" "$LOG" <<'PY'
import re, sys
path, log = sys.argv[1], sys.argv[2]
text = open(log, encoding="utf-8", errors="replace").read()
action, stmts = None, []
for line in open(path, encoding="utf-8"):
    line = line.rstrip("\n")
    m = re.match(r"-- partmig:step \d+ action=(\w+)", line)
    if m:
        action = m.group(1)
    elif action in ("ensure_table", "build_index") and line.startswith("--   "):
        stmts.append(line[5:].rstrip(";"))
missing = 0
for s in stmts:
    pattern = "".join(".+?" if p.startswith(":") and len(p) > 1 else re.escape(p)
                      for p in re.split(r"(:[a-z_]+)", s))
    if re.search(pattern, text):
        print("ran:", s)
    else:
        print("NOT RUN: %s" % s)
        missing += 1
print("shown statements: %d, not run: %d" % (len(stmts), missing))
sys.exit(1 if missing or len(stmts) < 12 else 0)
PY
echo "$OUT" | tail -n 3
assert_eq "$RC" 0 "every statement the attach blocks show ran ($(echo "$OUT" | grep '^NOT ' | head -5))"
assert_done
