#!/usr/bin/env bash
# security_policy_limits.sh: a hostile policy (from an untrusted pull request)
# cannot hang the compiler (finalizers, C loops, many files), make it work
# without bound (entries, values, lists, indexes, columns, tiering, bytes
# copied out of Lua), forge its output (error text, print, file names), or
# slip names and values past validation that partmig then refuses (a final
# newline, control characters, invalid UTF-8).  Every run is under `timeout`
# so that a regression fails instead of hanging.
. tests/lib/assert.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PARTMIG_POLICY_CPU_SECONDS=2
OK='partition "ok" { column = "created_at", interval = "1 month" }'
ESC=$(printf '\033')

# compile_dir NAME: compiles $tmp/NAME (a directory) into $tmp/out_NAME within
# 60 s; sets OUT ERR RC and SECS
compile_dir() {
    local start=$SECONDS
    rm -rf "$tmp/out_$1"
    run_cmd timeout 60 "$PARTMIG" compile "$tmp/$1" -o "$tmp/out_$1" --as-of 2025-01-01
    SECS=$((SECONDS - start))
}

# refused NAME LUA_SOURCE LINE EXPECTED_TEXT...: the policy is refused with
# exit 2 at file:LINE, quickly, with each text, and nothing is written
refused() {
    local name=$1 src=$2 line=$3
    shift 3
    mkdir -p "$tmp/$name"
    printf '%s\n' "$src" >"$tmp/$name/p.lua"
    compile_dir "$name"
    assert_eq "$RC" 2 "$name: exit code ($ERR)"
    assert_contains "$ERR" "$tmp/$name/p.lua:$line: " "$name: file:line"
    for want in "$@"; do assert_contains "$ERR" "$want" "$name: message"; done
    [ -e "$tmp/out_$name" ] && fail "$name: output written" || pass
    [ "$SECS" -lt 30 ] && pass || fail "$name: took $SECS s"
}

# --- 1. nothing runs outside the time limits --------------------------------
# a finalizer runs with hooks off, and at lua_close after the policy is done
refused gc_loop 'setmetatable({}, { __gc = function() while true do end end })
'"$OK" 1 'setmetatable: __gc (finalizers) is not allowed in policies'
refused gc_later 'local mt = { __gc = true }
setmetatable({}, mt)
mt.__gc = function() while true do end end' 2 '__gc (finalizers) is not allowed'
# a metatable given __gc only after setmetatable makes no finalizer: compiles
mkdir -p "$tmp/gc_after"
printf '%s\n' 'local mt = {} setmetatable({}, mt) mt.__gc = function() while true do end end' "$OK" >"$tmp/gc_after/p.lua"
compile_dir gc_after
assert_eq "$RC" 0 "gc_after: compiles ($ERR)"
[ "$SECS" -lt 30 ] && pass || fail "gc_after: took $SECS s"
# __close runs under the instruction hook
refused close_loop 'local x <close> = setmetatable({}, { __close = function() while true do end end })' 1 \
    'policy took too long'
# string.rep of an empty string loops inside one C call; it now returns at once
mkdir -p "$tmp/rep_empty"
printf '%s\n' 'local s = string.rep("", 1e18) assert(s == "")' "$OK" >"$tmp/rep_empty/p.lua"
compile_dir rep_empty
assert_eq "$RC" 0 "rep_empty: compiles ($ERR)"
refused rep_huge 'local s = string.rep("ab", 1e15, ",")' 1 'string.rep: the result would be larger than 64 MiB'
# a C loop is stopped by the CPU timer (PARTMIG_POLICY_CPU_SECONDS=2)
mkdir -p "$tmp/move_loop"
printf '%s\n' 'table.move({}, 1, math.maxinteger - 1, 1, {})' >"$tmp/move_loop/p.lua"
compile_dir move_loop
assert_eq "$RC" 2 "move_loop: exit code"
assert_contains "$ERR" "policy took too long (more than 2 s of CPU)" "move_loop: message"
# the CPU limit holds for all files together: thirty files, each well under
# the limit alone (about 0.15 s here), add up to more than it
mkdir -p "$tmp/many_files"
for i in $(seq -w 1 30); do
    printf '%s\n' 'local x = 0 for i = 1, 10000000 do x = x + i * 2 end' "partition \"t$i\" { column = \"c\", interval = \"1 month\" }" \
        >"$tmp/many_files/p$i.lua"
done
PARTMIG_POLICY_CPU_SECONDS=1 compile_dir many_files
assert_eq "$RC" 2 "many_files: exit code ($ERR)"
assert_contains "$ERR" "policy took too long (more than 1 s of CPU, the policy files loaded before it included)" \
    "many_files: message"

# --- 2. explicit bounds, each named in a file:line error ------------------------
refused entries 'for i = 1, 200000 do partition("t" .. i) { column = "c", interval = "1 month" } end' 1 \
    'partition "t10001": more than 10000 partition entries, the limit for one compile'
refused list_values 'local v = {} for i = 1, 100000 do v[i] = "v" .. i end
partition "t" { by = "list", column = "c", values = { a = v } }' 2 \
    'values.a: 100000 entries, more than the limit of 10000'
refused list_values_total 'local a, b = {}, {} for i = 1, 6000 do a[i] = "a" .. i b[i] = "b" .. i end
partition "t" { by = "list", column = "c", values = { a = a, b = b } }' 2 \
    'values: more than 10000 values in all lists, the limit for one table'
refused lists 'local l = {} for i = 1, 1001 do l["p" .. i] = { "v" .. i } end
partition "t" { by = "list", column = "c", values = l }' 2 'values: more than 1000 lists, the limit for one table'
refused sub_lists 'local l = {} for i = 1, 1001 do l["p" .. i] = { "v" .. i } end
partition "t" { column = "c", interval = "1 month", subpartition = { by = "list", column = "k", values = l } }' 2 \
    'subpartition.values: more than 1000 lists'
refused indexes 'local ix = {} for i = 1, 101 do ix[i] = { columns = { "c" } } end
partition "t" { column = "c", interval = "1 month", indexes = ix }' 2 'indexes: 101 entries, more than the limit of 100'
refused index_columns 'local cols = {} for i = 1, 33 do cols[i] = "c" .. i end
partition "t" { column = "c", interval = "1 month", indexes = { { columns = cols } } }' 2 \
    'indexes[1].columns: 33 entries, more than the limit of 32'
refused primary_key 'local cols = {} for i = 1, 33 do cols[i] = "c" .. i end
partition "t" { column = "c", interval = "1 month", primary_key = cols }' 2 \
    'primary_key: 33 entries, more than the limit of 32'
refused columns 'local cols = {} for i = 1, 1601 do cols[i] = { "c" .. i, "int" } end
partition "t" { column = "c1", interval = 10, columns = cols }' 2 'columns: 1601 entries, more than the limit of 1600'
refused tiering 'local t = {} for i = 1, 33 do t[i] = { older_than = i .. " months", tablespace = "s" .. i } end
partition "t" { column = "c", interval = "1 month", tiering = t }' 2 'tiering: 33 entries, more than the limit of 32'
refused long_string 'partition "t" { column = "c", interval = "1 month", timezone = string.rep("A", 1001) }' 1 \
    'timezone: longer than 1000 bytes, the limit for one string'
# at the limits, validation is not quadratic: 10000 entries and 10000 values compile
mkdir -p "$tmp/at_limits"
printf '%s\n' 'for i = 1, 9999 do partition("t" .. i) { column = "c", interval = "1 year", start = "2024-01-01" } end' \
    'local v = {} for i = 1, 10000 do v[i] = i .. "_value" end' \
    'partition "l" { by = "list", column = "c", values = { a = v } }' >"$tmp/at_limits/p.lua"
compile_dir at_limits
assert_eq "$RC" 0 "at_limits: compiles ($ERR)"
[ "$SECS" -lt 30 ] && pass || fail "at_limits: took $SECS s"

# --- 3. what is copied out of Lua counts against a budget -----------------------
# one 5 MB table of values used by twenty partitions: 100 MB copied out
refused copy_budget 'local v = {} for i = 1, 5000 do v[i] = i .. string.rep("x", 990) end
for i = 1, 20 do partition("t" .. i) { by = "list", column = "c", values = { a = v } } end' 2 \
    'policies take more than 64 MiB once read (the limit for all policy files together)'
# defaults are read (to check them) at each call: that counts too
refused copy_budget_defaults 'local v = {} for i = 1, 5000 do v[i] = i .. string.rep("x", 990) end
for i = 1, 20 do defaults { values = { a = v } } end' 2 'defaults: policies take more than 64 MiB once read'

# --- 4. text from a policy cannot forge output ----------------------------------
refused error_text 'error("boom\nhint: all is fine\r\027[2J\027]0;title\007")' 1 \
    'boom\nhint: all is fine\r\x1b[2J\x1b]0;title\x07'
assert_not_contains "$ERR" "$ESC" "error_text: no escape character printed"
assert_eq "$(printf '%s\n' "$ERR" | grep '^hint:' | grep -vc "^hint: the policy's own Lua code failed there")" 0 \
    "error_text: no forged hint line (only partmig's own)"
refused unknown_key 'partition "t" { column = "c", interval = "1 month", ["x\nhint: \027[31m"] = 1 }' 1 \
    'unknown key "x\nhint: \x1b[31m"'
assert_not_contains "$ERR" "$ESC" "unknown_key: no escape character printed"
refused table_name 'partition "t\nhint: \027[31mfine" { column = "c", interval = "1 month" }' 1 \
    'partition "t\nhint: \x1b[31mfine": table name "t\nhint: \x1b[31mfine"'
assert_not_contains "$ERR" "$ESC" "table_name: no escape character printed"
assert_eq "$(printf '%s\n' "$ERR" | grep -c '^hint: \\x1b')" 0 "table_name: no forged hint line"
refused c1_value 'partition "t" { by = "list", column = "c", values = { a = { "x\194\155[2J" } } }' 1 \
    'values.a[1] "x\xc2\x9b[2J": holds a control character'
# print: prefixed lines on stderr, escaped, cut, at most 100 of them
mkdir -p "$tmp/print"
printf '%s\n' 'for i = 1, 1000 do print("::error::x\n\027[2J" .. string.rep("y", 5000)) end' "$OK" \
    >"$tmp/print/p.lua"
compile_dir print
assert_eq "$RC" 0 "print: compiles ($ERR)"
assert_not_contains "$OUT" "::error::" "print: nothing on stdout"
assert_not_contains "$ERR" "$ESC" "print: no escape character printed"
assert_eq "$(printf '%s\n' "$ERR" | grep -c "^$tmp/print/p.lua:1: print: ::error::x\\\\n\\\\x1b\\[2Jyyy")" 100 \
    "print: 100 escaped, prefixed lines"
assert_contains "$ERR" "$tmp/print/p.lua:1: print: more than 100 lines; the rest is dropped" "print: the rest dropped"
[ "$(printf '%s\n' "$ERR" | wc -c)" -lt 200000 ] && pass || fail "print: output not bounded"
assert_eq "$(printf '%s\n' "$ERR" | grep -c '^::error::')" 0 "print: no line starts with the policy's text"
# a policy file name goes into messages and migration comments: a carriage
# return there would end an SQL comment
mkdir -p "$tmp/file_name"
printf '%s\n' "$OK" >"$tmp/file_name/$(printf 'a\rDROP TABLE users; --.lua')"
compile_dir file_name
assert_eq "$RC" 2 "file_name: exit code"
assert_contains "$ERR" 'policy file name' "file_name: message"
assert_contains "$ERR" 'a\rDROP TABLE users; --.lua" holds a control character' "file_name: name escaped"
[ -e "$tmp/out_file_name" ] && fail "file_name: output written" || pass

# --- 5. names and values: end of subject, control characters, UTF-8 ------------
refused table_newline 'partition "t\n" { column = "c", interval = "1 month" }' 1 'table name "t\n": expected a lowercase SQL name'
refused zone_newline 'partition "t" { column = "c", interval = "1 month", timezone = "UTC\n" }' 1 \
    'timezone "UTC\n": holds a control character'
refused column_newline 'partition "t" { column = "c\n", interval = "1 month" }' 1 'column "c\n": holds a control character'
refused start_newline 'partition "t" { column = "c", interval = "1 month", start = "2024-01-01\n" }' 1 \
    'start "2024-01-01\n": holds a control character'
refused type_vtab 'partition "t" { column = "c", interval = "1 month", columns = { { "c", "timestamptz\vnot null" } } }' 1 \
    'columns[1] type "timestamptz\x0bnot null": holds a control character'
refused type_formfeed 'partition "t" { column = "c", interval = "1 month", columns = { { "c", "timestamptz\fnot null" } } }' 1 \
    'holds a control character'
refused value_utf8 'partition "t" { by = "list", column = "c", values = { a = { "ok", "bad\255" } } }' 1 \
    'values.a[2] "bad\xff": holds invalid UTF-8'
refused value_overlong 'partition "t" { by = "list", column = "c", values = { a = { "\192\175" } } }' 1 'holds invalid UTF-8'
refused name_utf8 'partition "t" { column = "c", interval = "1 month", indexes = { { columns = { "c" }, name = "i\255" } } }' 1 \
    'indexes[1].name "i\xff": holds invalid UTF-8'
# UTF-8 text is fine where text is allowed
mkdir -p "$tmp/utf8_ok"
printf '%s\n' 'partition "t" { by = "list", column = "c", values = { a = { "Zürich", "東京" } } }' >"$tmp/utf8_ok/p.lua"
compile_dir utf8_ok
assert_eq "$RC" 0 "utf8_ok: compiles ($ERR)"
assert_contains "$(cat "$tmp/out_utf8_ok"/0001_*.sql)" "'Zürich'" "utf8_ok: value emitted"
assert_done
