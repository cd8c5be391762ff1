#!/usr/bin/env bash
# compile_incremental.sh: unchanged policies add nothing; each change adds one
# version with only its delta; existing files are never rewritten; an edited
# file is refused.
. tests/lib/assert.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
P="$tmp/policies"
M="$tmp/m"
mkdir -p "$P"
cp policies/erp.lua "$P/erp.lua"
compile() { run_cmd "$PARTMIG" compile "$P" -o "$M" "$@"; }
steps_of() { grep -o 'action=[a-z_]*' "$1" | tr '\n' ' '; }

compile --as-of 2025-01-01
assert_eq "$RC" 0 "first compile ($ERR)"
assert_eq "$(ls "$M")" "0001_erp.sql
partmig.sum" "first version written"
sum1=$(sha256sum "$M/0001_erp.sql")

compile --as-of 2031-07-15
assert_eq "$RC" 0 "unchanged compile exit code"
assert_contains "$ERR" "up to date" "unchanged: up to date"
assert_eq "$(ls "$M" | wc -l)" 2 "unchanged: no new file whatever --as-of"

sed -i 's/"24 months"/"36 months"/' "$P/erp.lua"
compile
assert_eq "$RC" 0 "retention change ($ERR)"
f2=$(ls "$M"/0002_*.sql 2>/dev/null)
assert_eq "$(basename "$f2")" "0002_erp_retention.sql" "retention version name"
assert_eq "$(steps_of "$f2")" "action=register " "retention: only a register step"
assert_contains "$(cat "$f2")" "retention 24 months -> 36 months" "header says what changed"
line=$(grep -n '^partition "journal_entries"' "$P/erp.lua" | cut -d: -f1)
assert_contains "$(cat "$f2")" "source: $P/erp.lua:$line partition \"journal_entries\"" "header names the source line"
assert_eq "$(grep -c 'partmig:policy' "$f2")" 1 "only the changed table's policy"

sed -i 's/primary_key = { "id", "run_at" },/primary_key = { "id", "run_at" },\n  indexes = { { columns = { "workflow_id" } } },/' "$P/erp.lua"
compile
assert_eq "$RC" 0 "new index ($ERR)"
f3=$(ls "$M"/0003_*.sql 2>/dev/null)
assert_eq "$(basename "$f3")" "0003_erp_index.sql" "index version name"
assert_eq "$(steps_of "$f3")" "action=sql action=build_index action=register " "new index: sql + build_index + register"
assert_contains "$(cat "$f3")" 'CREATE INDEX IF NOT EXISTS "workflow_logs_workflow_id_idx" ON ONLY "public"."workflow_logs"' "index on the parent only"

sed -i 's/premake = 3/premake = 6/' "$P/erp.lua"
compile
f4=$(ls "$M"/0004_*.sql 2>/dev/null)
assert_eq "$(steps_of "$f4")" "action=premake action=register action=premake action=register action=premake action=register " "premake grew: premake + register per table"

# removing an index: a point of no return
sed -i '/indexes = { { columns = { "workflow_id" } } },/d' "$P/erp.lua"
compile
f5=$(ls "$M"/0005_*.sql 2>/dev/null)
assert_eq "$(steps_of "$f5")" "action=sql action=register " "dropped index: sql + register"
assert_contains "$(cat "$f5")" "undo=none" "dropping an index cannot be undone"
assert_contains "$(cat "$f5")" 'DROP INDEX IF EXISTS "public"."workflow_logs_workflow_id_idx";' "drop index SQL"

# removing a policy: refused without --forget (exit 2, the flag named), then unregister + forget
python3 - "$P/erp.lua" <<'PY'
import re, sys
p = sys.argv[1]
s = open(p).read()
s = re.sub(r'partition "audit_logs" \{.*?\n\}\n', '', s, flags=re.S)
open(p, 'w').write(s)
PY
compile
assert_eq "$RC" 2 "removed policy: refused without --forget"
assert_contains "$ERR" "--forget public.audit_logs" "removed policy: the hint names the flag"
compile --forget public.audit_logs
f6=$(ls "$M"/0006_*.sql 2>/dev/null)
assert_eq "$(steps_of "$f6")" "action=unregister " "removed policy: unregister"
assert_contains "$(cat "$f6")" "-- partmig:forget public.audit_logs" "forget line"
compile
assert_contains "$ERR" "up to date" "after forget: up to date"

# a change of the partition column is refused (it needs --relayout or a new table)
cp "$P/erp.lua" "$tmp/keep.lua"
sed -i 's/column      = "run_at"/column = "finished_at"/' "$P/erp.lua"
sed -i 's/{ "id", "run_at" }/{ "id", "finished_at" }/' "$P/erp.lua"
compile
assert_eq "$RC" 2 "layout change exit code"
assert_contains "$ERR" "erp.lua:" "layout change names file:line"
assert_contains "$ERR" "column changed" "layout change message"
assert_contains "$ERR" "--relayout public.workflow_logs" "layout change: the hint names the flag"
assert_contains "$ERR" "hint:" "layout change hint"
cp "$tmp/keep.lua" "$P/erp.lua"

# existing files never rewritten
assert_eq "$(sha256sum "$M/0001_erp.sql")" "$sum1" "0001 unchanged after five more versions"

# an edited old file is refused (check and compile)
sed -i 's/lock_timeout = .500ms./lock_timeout = '"'"'1h'"'"'/' "$M/0002_erp_retention.sql"
grep -q "lock_timeout = '1h'" "$M/0002_erp_retention.sql" && pass || fail "the file was edited"
run_cmd "$PARTMIG" compile "$P" -o "$M" --check
assert_eq "$RC" 2 "edited file: --check exit code"
assert_contains "$ERR" "0002_erp_retention.sql" "edited file named"
compile
assert_eq "$RC" 2 "edited file: compile refuses too"
assert_eq "$(ls "$M" | wc -l)" 7 "nothing written after the refusal"
assert_done
