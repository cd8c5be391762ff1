#!/usr/bin/env bash
# sandbox_escapes.sh: a policy cannot read files, run commands, load code or
# bytecode, or hang or exhaust the compiler; each attempt exits 2 with a
# message naming the file (and the line when Lua knows it).
. tests/lib/assert.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
touch "$tmp/canary"

# escape NAME LUA_SOURCE EXPECTED_TEXT
escape() {
    local name=$1 src=$2 want=$3
    printf '%s\n' "$src" >"$tmp/$name.lua"
    local start=$SECONDS
    run_cmd timeout 60 "$PARTMIG" compile "$tmp/$name.lua" -o "$tmp/m_$name" --as-of 2025-01-01
    assert_eq "$RC" 2 "$name: exit code"
    assert_contains "$ERR" "$tmp/$name.lua" "$name: names the file"
    assert_contains "$ERR" "$want" "$name: message"
    [ -e "$tmp/m_$name" ] && fail "$name: output written" || pass
    [ $((SECONDS - start)) -lt 30 ] && pass || fail "$name: took $((SECONDS - start)) s"
}

escape os_execute "os.execute('rm $tmp/canary')" 'unknown global "os"'
escape io_open "local f = io.open('/etc/passwd') partition 'x' { column = f:read('l') }" 'unknown global "io"'
escape require "local os = require('os')" 'unknown global "require"'
escape dofile "dofile('/etc/passwd')" 'unknown global "dofile"'
escape loadfile "loadfile('/etc/passwd')" 'unknown global "loadfile"'
escape load_string "load('os.exit(1)')()" 'unknown global "load"'
escape loadstring "loadstring('return 1')()" 'unknown global "loadstring"'
escape string_dump "local f = string.dump(function() return 1 end)" "attempt to call a nil value (field 'dump')"
escape string_meta_dump "local f = ('').dump(print)" "attempt to call a nil value (field 'dump')"
escape env_rawget "local o = rawget(_ENV, 'os') or rawget(_G or {}, 'os'); o.exit(1)" 'unknown global "_G"'
escape getmetatable_env "local mt = getmetatable(_ENV); mt.__index = nil; os.exit(1)" "attempt to index a boolean value"
escape collectgarbage "collectgarbage('stop')" 'unknown global "collectgarbage"'
escape debug "debug.sethook()" 'unknown global "debug"'
escape package "package.loadlib('libc.so.6', 'system')" 'unknown global "package"'
escape infinite_loop "while true do end" "policy took too long"
escape pcall_loop "while true do pcall(function() while true do end end) end" "policy took too long"
escape memory_rep "local s = string.rep('x', 1 << 30)" "string.rep: the result would be larger than 64 MiB"
escape memory_growth "local s = 'x' while true do s = s .. s end" "policy used more than 64 MiB of memory"
# a backtracking pattern runs inside one C call, where no instruction hook fires:
# the CPU timer stops it (2 s here instead of the default 10 s)
PARTMIG_POLICY_CPU_SECONDS=2 escape pattern_backtrack "local x = string.rep('a', 200000):find('.-.-.-.-.-b')" "policy took too long (more than 2 s of CPU)"
escape memory_table "local t = {} for i = 1, 1e9 do t[i] = i end" "policy used more than 64 MiB of memory"
escape deep_recursion "local function f(n) return 1 + f(n + 1) end f(1)" "stack overflow"
escape pcall_hides_error "pcall(partition 'x', { colour = 1 }) partition 'y' { column = 'c', interval = '1 day' }" 'unknown key "colour"'

# a binary (precompiled) chunk is refused
printf '\033LuaT\000\031\223\r\n\032\n' >"$tmp/binary.lua"
run_cmd "$PARTMIG" compile "$tmp/binary.lua" -o "$tmp/m_binary" --as-of 2025-01-01
assert_eq "$RC" 2 "binary chunk: exit code"
assert_contains "$ERR" "attempt to load a binary chunk" "binary chunk: message"
assert_contains "$ERR" "hint: policy files must be Lua source text" "binary chunk: hint"
if command -v luac5.4 >/dev/null; then
    printf 'partition "t" { column = "c", interval = "1 day" }\n' >"$tmp/src.lua"
    luac5.4 -o "$tmp/compiled.lua" "$tmp/src.lua"
    run_cmd "$PARTMIG" compile "$tmp/compiled.lua" -o "$tmp/m_compiled" --as-of 2025-01-01
    assert_eq "$RC" 2 "luac output: exit code"
fi

[ -e "$tmp/canary" ] && pass || fail "the canary file was removed"

# plain Lua still works: loops, functions, string and table helpers
cat >"$tmp/plain.lua" <<'LUA'
local function monthly(name, keep)
  return { column = "created_at", interval = "1 month", retention = { keep = string.format("%d months", keep) } }
end
local names = {}
for i = 1, 3 do table.insert(names, "t" .. i) end
for i, n in ipairs(names) do partition(n)(monthly(n, 6 * i)) end
helper = math.max(1, 2) -- globals may be defined
partition "u" { column = "id", interval = helper * 1000 }
LUA
run_cmd "$PARTMIG" compile "$tmp/plain.lua" -o "$tmp/m_plain" --as-of 2025-01-01
assert_eq "$RC" 0 "plain Lua policy compiles ($ERR)"
assert_eq "$(grep -c 'partmig:policy' "$tmp/m_plain"/0001_*.sql)" 4 "four policies from loops and functions"
assert_contains "$(cat "$tmp/m_plain"/0001_*.sql)" '"keep":"18 months"' "computed values"
assert_done
