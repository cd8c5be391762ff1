#!/usr/bin/env bash
# security_files.sh: hostile files and numbers never hang or wrap.  A FIFO or
# a symbolic link to /dev/zero named like a migration or partmig.sum is
# refused with exit 2 naming the file (compile --check, plan, apply: each
# under `timeout`, so a regression fails instead of hanging); integer starts
# and keys near the bigint limits, time bounds past 9999 and subpartitions
# multiplying past the partition cap are exit-2 errors naming the limit, with
# no undefined behaviour (run this against the ASan+UBSan build too).
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; pg_stop' EXIT
LIMIT=20 # seconds: every command here finishes in well under one

# no_ub: the sanitizer build reports undefined behaviour on stderr
no_ub() { assert_not_contains "$ERR" "runtime error" "no undefined behaviour: $1"; }

printf 'partition "events" { column = "id", interval = 1000, start = 0, premake = 1,\n  columns = { { "id", "bigint NOT NULL" } } }\n' >"$tmp/p.lua"
"$PARTMIG" compile "$tmp/p.lua" -o "$tmp/good" --as-of 2025-01-01 >/dev/null || fail "baseline compile"

# hostile DIR KIND NAME: a copy of the good directory with NAME replaced by a
# FIFO or a link to /dev/zero
hostile() {
    local dir=$1 kind=$2 name=$3
    rm -rf "$dir"
    cp -r "$tmp/good" "$dir"
    rm -f "$dir/$name"
    case $kind in
    fifo) mkfifo "$dir/$name" ;;
    zero) ln -s /dev/zero "$dir/$name" ;;
    esac
}

# refused WHAT WANT CMD...: exit 2 within LIMIT, stderr naming the file
refused() {
    local what=$1 want=$2
    shift 2
    run_cmd timeout "$LIMIT" "$@"
    assert_eq "$RC" 2 "exit code ($what; 124 means it hung): $ERR"
    assert_contains "$ERR" "$want" "message ($what)"
    assert_contains "$ERR" "hint: " "hint ($what)"
}

for kind in fifo zero; do
    for name in 0002_x.sql 0001_p.sql partmig.sum; do
        d="$tmp/m_${kind}_${name%%.*}"
        hostile "$d" "$kind" "$name"
        if [ "$kind" = fifo ]; then want="\"$d/$name\" is not a regular file (a FIFO)"; else want="\"$d/$name\" is a symbolic link"; fi
        refused "compile --check, $kind $name" "$want" "$PARTMIG" compile "$tmp/p.lua" -o "$d" --check --as-of 2025-01-01
        refused "compile, $kind $name" "$want" "$PARTMIG" compile "$tmp/p.lua" -o "$d" --as-of 2025-01-01
        [ "$name" = partmig.sum ] || refused "lint, $kind $name" "$want" "$PARTMIG" lint "$d"
    done
done
# a directory named like a migration is no file either
d="$tmp/m_dir"
hostile "$d" none 0002_x.sql
mkdir "$d/0002_x.sql"
refused "directory 0002_x.sql" "is not a regular file (a directory)" "$PARTMIG" compile "$tmp/p.lua" -o "$d" --check --as-of 2025-01-01

# a hand-written migration (with a matching sum) whose step line the writer
# could not write back, or whose version does not fit an int, is refused
# hand DIR FIRST_LINE STEP_LINE WANT
hand() {
    local d=$1 want=$4
    rm -rf "$d"
    mkdir -p "$d"
    printf '%s\n\n%s\nSELECT 1;\n-- partmig:end\n' "$2" "$3" >"$d/0001_x.sql"
    "$PARTMIG_TOOLS/runtime_sum" "$d" || fail "runtime_sum $d"
    run_cmd timeout "$LIMIT" "$PARTMIG" plan -d "$d" --db "postgresql:///none?host=$tmp/nosocket"
    assert_eq "$RC" 2 "exit code ($want): $ERR"
    assert_contains "$ERR" "$want" "message ($want)"
}
hand "$tmp/h1" '-- partmig migration 0001 x' '-- partmig:step 1 action=sql transactional=yes table=a"b undo=none' \
    'malformed step line near "a"b undo=none"'
hand "$tmp/h2" '-- partmig migration 0001 x' '-- partmig:step 1 action=sql transactional=maybe undo=none' \
    'transactional "maybe": expected yes or no'
hand "$tmp/h3" '-- partmig migration 0001 x' '-- partmig:step 1 action=sql undo=none undo=sql' 'step line repeats "undo"'
hand "$tmp/h4" '-- partmig migration 99999999999999999999 x' '-- partmig:step 1 action=sql undo=none' \
    'not a partmig migration'

# ---- overflow: compile gives exit 2 naming the limit, writes nothing ----

# bad_policy NAME BODY WANT...
bad_policy() {
    local name=$1 body=$2
    shift 2
    printf '%s\n' "$body" >"$tmp/$name.lua"
    run_cmd timeout "$LIMIT" "$PARTMIG" compile "$tmp/$name.lua" -o "$tmp/out_$name" --as-of 2025-01-01
    assert_eq "$RC" 2 "exit code ($name): $ERR"
    assert_contains "$ERR" "$tmp/$name.lua:1: " "file:line ($name)"
    for want in "$@"; do assert_contains "$ERR" "$want" "message ($name)"; done
    assert_contains "$ERR" "hint: " "hint ($name)"
    no_ub "$name"
    [ -e "$tmp/out_$name" ] && fail "output written ($name)" || pass
}
bad_policy int_max 'partition "events" { column = "id", interval = 100, start = 9223372036854775800 }' \
    'start 9223372036854775800 plus 4 x 100' 'passes 9223372036854775807, the largest bigint'
bad_policy int_max_step 'partition "events" { column = "id", interval = 999999999999999999, start = 9000000000000000000, premake = 0 }' \
    'passes 9223372036854775807, the largest bigint'
bad_policy int_range 'partition "events" { column = "id", interval = 100, start = "99999999999999999999" }' \
    'start "99999999999999999999" is outside the bigint range -9223372036854775808 .. 9223372036854775807'
bad_policy int_range_neg 'partition "events" { column = "id", interval = 100, start = "-9223372036854775809" }' \
    'is outside the bigint range'
bad_policy years 'partition "events" { column = "created_at", interval = "999999 years", start = "2024-01-01" }' \
    '9999-12-31, the latest date partmig handles'
bad_policy hash_x_hash 'partition "events" { by = "hash", column = "id", modulus = 1024, subpartition = { by = "hash", column = "tenant", modulus = 1024 } }' \
    'more than 100000 partitions: 1024 partitions x (1 + 1024 subpartitions) is 1049600'
bad_policy range_x_hash 'partition "events" { column = "created_at", interval = "1 month", start = "2000-01-01", subpartition = { by = "hash", column = "tenant", modulus = 1024 } }' \
    'more than 100000 partitions'

# the negative extreme is representable: exact bounds, no wrap
printf '%s\n' 'partition "events" { column = "id", interval = 100, start = -9223372036854775807 - 1, premake = 1 }' >"$tmp/neg.lua"
run_cmd timeout "$LIMIT" "$PARTMIG" compile "$tmp/neg.lua" -o "$tmp/out_neg" --as-of 2025-01-01
assert_eq "$RC" 0 "smallest bigint start compiles: $ERR"
no_ub "smallest bigint start"
assert_contains "$(cat "$tmp"/out_neg/0001_*.sql 2>/dev/null)" 'FOR VALUES FROM (-9223372036854775808) TO (-9223372036854775708)' "first bound"
assert_contains "$(cat "$tmp"/out_neg/0001_*.sql 2>/dev/null)" 'FOR VALUES FROM (-9223372036854775708) TO (-9223372036854775608)' "second bound"

# ---- a real database: apply refuses the hostile directory before it touches
# anything, and premake at the bigint limit is an error, not a wrapped bound ----
pg_start
hostile "$tmp/a_fifo" fifo 0001_p.sql
refused "apply, fifo" "is not a regular file (a FIFO)" "$PARTMIG" apply -d "$tmp/a_fifo"
hostile "$tmp/a_zero" zero partmig.sum
refused "apply, link to /dev/zero" "is a symbolic link" "$PARTMIG" apply -d "$tmp/a_zero"
refused "plan, fifo" "is not a regular file (a FIFO)" "$PARTMIG" plan -d "$tmp/a_fifo"
assert_eq "$(psql_q "SELECT count(*) FROM pg_namespace WHERE nspname = 'partmig'")" 0 "nothing applied"

printf '%s\n' 'partition "events" { column = "id", interval = 100, start = 9223372036854775000, premake = 2, default_partition = true,' \
    '  columns = { { "id", "bigint NOT NULL" } } }' >"$tmp/edge.lua"
run_cmd timeout "$LIMIT" "$PARTMIG" compile "$tmp/edge.lua" -o "$tmp/edge" --as-of 2025-01-01
assert_eq "$RC" 0 "edge policy compiles: $ERR"
run_cmd timeout "$LIMIT" "$PARTMIG" apply -d "$tmp/edge"
assert_eq "$RC" 0 "edge policy applies: $ERR"
no_ub "apply at the edge"
assert_eq "$(psql_q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'public.events'::regclass")" 4 "3 range partitions and DEFAULT"
psql_q "INSERT INTO public.events VALUES (9223372036854775250), (9223372036854775807)" >/dev/null
before=$(psql_q "SELECT string_agg(pg_get_expr(c.relpartbound, c.oid), '; ' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.events'::regclass")
run_cmd timeout "$LIMIT" "$PARTMIG" maintain
[ "$RC" != 0 ] && pass || fail "maintain reports the failed table (rc $RC)"
assert_contains "$ERR" "would end past 9223372036854775807, the largest bigint" "maintain names the limit"
no_ub "maintain at the edge"
after=$(psql_q "SELECT string_agg(pg_get_expr(c.relpartbound, c.oid), '; ' ORDER BY c.relname) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.events'::regclass")
assert_eq "$after" "$before" "no partition with a wrapped bound"

# converting an existing table whose keys sit at the bigint limit: copy and
# attach refuse with the limit named, nothing wrapped, the table untouched
psql_q "CREATE TABLE public.near (id bigint PRIMARY KEY); CREATE TABLE public.near2 (id bigint PRIMARY KEY);
        INSERT INTO public.near VALUES (1), (9223372036854775800); INSERT INTO public.near2 VALUES (1), (9223372036854775800)" >/dev/null
printf '%s\n' 'partition "near" { column = "id", interval = 100, premake = 2 }' \
    'partition "near2" { column = "id", interval = 100, premake = 2, existing = { method = "attach" } }' >"$tmp/near.lua"
run_cmd timeout "$LIMIT" "$PARTMIG" compile "$tmp/edge.lua" "$tmp/near.lua" -o "$tmp/edge" --as-of 2025-01-01
assert_eq "$RC" 0 "near-limit policies compile: $ERR"
run_cmd timeout "$LIMIT" "$PARTMIG" apply -d "$tmp/edge"
assert_eq "$RC" 2 "converting keys at the bigint limit is refused"
assert_contains "$ERR" "the largest bigint" "the refusal names the limit"
no_ub "conversion at the edge"
assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.near'::regclass")" r "the table stays plain"
assert_eq "$(psql_q "SELECT count(*) FROM public.near")" 2 "its rows stay"

# policy files: read by partmig itself, so a FIFO or a link to a device is
# refused at once; a link to a regular policy file is followed
pol="$tmp/pol_special"
mkdir -p "$pol"
mkfifo "$pol/a.lua"
run_cmd timeout "$LIMIT" "$PARTMIG" compile "$pol" -o "$tmp/out_special"
assert_eq "$RC" 2 "a FIFO named *.lua is refused, not waited on"
assert_contains "$ERR" 'is not a regular file (a FIFO)' "the FIFO is named"
rm "$pol/a.lua"
ln -s /dev/zero "$pol/z.lua"
run_cmd timeout "$LIMIT" "$PARTMIG" compile "$pol" -o "$tmp/out_special"
assert_eq "$RC" 2 "a link to /dev/zero named *.lua is refused, not read forever"
assert_contains "$ERR" '(a character device)' "the device is named"
rm "$pol/z.lua"
ln -s "$PARTMIG_SOURCE/policies/erp.lua" "$pol/erp.lua"
run_cmd timeout "$LIMIT" "$PARTMIG" compile "$pol" -o "$tmp/out_special" --as-of 2025-01-01
assert_eq "$RC" 0 "a link to a regular policy file is followed ($ERR)"
assert_done
