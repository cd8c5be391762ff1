#!/usr/bin/env bash
# shown_sql_runs.sh: the "the runtime runs" blocks of a compiled migration
# are the SQL the runtime really sends.  The ERP migration is applied to the
# three plain ERP tables on a server that logs every statement; each
# statement the ensure_table (conversion) and build_index blocks show must be
# in the server's log, a :placeholder matching whatever value the database
# supplied.  And the committed ERP file shows PARTITION BY.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start "log_statement = 'all'"
LOG="$PARTMIG_TEST_DIR/server.log"

assert_eq "$(grep -c 'PARTITION BY RANGE' migrations/0001_erp.sql)" 3 "migrations/0001_erp.sql shows PARTITION BY"
assert_eq "$(grep -c 'PRIMARY KEY ("id", "created_at")' migrations/0001_erp.sql)" 4 "and the policy's primary keys (per partition, then the parent's)"

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
action, stmts = None, []
for line in open(path, encoding="utf-8"):
    line = line.rstrip("\n")
    m = re.match(r"-- partmig:step \d+ action=(\w+)", line)
    if m:
        action = m.group(1)
        continue
    if action not in ("ensure_table", "build_index"):
        continue
    if line.startswith("--       ") and stmts:
        stmts[-1] = (stmts[-1][0], stmts[-1][1] + " " + line[9:])
    elif line.startswith("--   "):
        stmts.append((action, line[5:]))
missing = 0
for action, s in stmts:
    s = s.rstrip(";")
    # :index_definition: one statement per secondary index of the old table
    # (workflow_logs has none)
    # build_index: a copy conversion builds the policy's indexes before its
    # swap (checked below), so the step after it finds them done
    optional = ":index_definition" in s or (":key_lo" in s and batches < 2) or action == "build_index"
    pattern = ""
    for part in re.split(r"(:[a-z_]+)", s):
        pattern += ".+?" if part.startswith(":") and len(part) > 1 else re.escape(part)
    # partmig_reverse is made on the new table before the swap, quiet
    # until it by a WHEN (a block showing it on the table after the swap,
    # unconditional, is checked in that form)
    m = re.match(r'CREATE TRIGGER partmig_reverse (.*) ON "public"\."(\w+)" FOR EACH ROW (EXECUTE .*)', s)
    if m:
        pattern += "|" + re.escape('CREATE TRIGGER partmig_reverse %s ON "public"."%s_partmig_new" FOR EACH ROW WHEN ('
                                   % (m.group(1), m.group(2))) + r"[^\n]+?\) " + re.escape(m.group(3)).replace(
                                       re.escape(":id"), ".+?")
    if re.search(pattern, text):
        print("ran:", s)
    elif not optional:
        print("NOT RUN (%s): %s" % (action, s))
        missing += 1
if not re.search(r'CREATE INDEX IF NOT EXISTS "pm\d+_pix0" ON ONLY "public"\."journal_entries_partmig_new" USING btree \("tenant_id"\)', text):
    print("NOT RUN: the policy's index built on the new table before the swap")
    missing += 1
print("shown statements: %d, not run: %d" % (len(stmts), missing))
sys.exit(1 if missing or len(stmts) < 40 else 0)
PY
echo "$OUT" | tail -n 5
assert_eq "$RC" 0 "every statement the blocks show ran ($(echo "$OUT" | grep 'NOT RUN' | head -5))"
assert_done
