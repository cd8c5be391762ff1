#!/usr/bin/env bash
# compile_forget.sh: a compile that would unregister a table says so and
# needs --forget TABLE (or --allow-forget): a policy set with every line
# commented out, and one removed policy of two, are refused with exit 2, a
# hint naming the flag, and nothing written; the only policy's file removed
# compiles with --forget TABLE into a version that unregisters it.
. tests/lib/assert.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
P="$tmp/policies"; M="$tmp/m"; mkdir -p "$P"
compile() { run_cmd "$PARTMIG" compile "$P" -o "$M" "$@"; }
cat >"$P/a.lua" <<'LUA'
partition "orders" { column = "created_at", interval = "1 month" }
partition "visits" { column = "at", interval = "1 day" }
LUA
compile --as-of 2025-01-01
assert_eq "$RC" 0 "first compile ($ERR)"

# every line commented out
sed -i 's/^/-- /' "$P/a.lua"
compile
assert_eq "$RC" 2 "empty policy set refused"
assert_contains "$ERR" "would unregister every table" "says every table would go"
assert_contains "$ERR" '"public.orders", "public.visits"' "names the tables"
assert_contains "$ERR" "hint:" "has a hint"
assert_contains "$ERR" "partmig compile --forget public.orders --forget public.visits" "the hint names the exact command"
assert_contains "$ERR" "--allow-forget" "the hint names --allow-forget"
assert_eq "$(ls "$M" | wc -l)" 2 "nothing written"
compile --check
assert_eq "$RC" 2 "--check refuses too"

# one policy of two removed
cat >"$P/a.lua" <<'LUA'
partition "orders" { column = "created_at", interval = "1 month" }
LUA
compile
assert_eq "$RC" 2 "a removed policy is refused"
assert_contains "$ERR" 'no policy declares "public.visits" any more' "names the table"
assert_not_contains "$ERR" "public.orders" "the kept table is not named"
assert_contains "$ERR" "--forget public.visits" "the hint names the flag"
compile --forget public.orders
assert_eq "$RC" 2 "--forget of another table does not cover it"
compile --forget public.visits
assert_eq "$RC" 0 "--forget TABLE writes the version ($ERR)"
assert_contains "$OUT" "public.visits: no longer managed" "compile says what it unregisters"
assert_contains "$(cat "$M"/0002_*.sql)" "-- partmig:forget public.visits" "forget line"
compile
assert_contains "$ERR" "up to date" "then up to date"

# --allow-forget for everything
sed -i 's/^/-- /' "$P/a.lua"
compile --allow-forget
assert_eq "$RC" 0 "--allow-forget ($ERR)"
assert_contains "$(cat "$M"/0003_*.sql)" "-- partmig:forget public.orders" "forget line"
compile --forget 'bad name'
assert_eq "$RC" 2 "a bad --forget name is refused"

# the only policy's file removed: --forget TABLE compiles its unregistration;
# without it (a wrong, empty directory) nothing is unregistered
rm -rf "$P" "$M"; mkdir -p "$P"
cat >"$P/a.lua" <<'LUA'
partition "orders" { column = "created_at", interval = "1 month" }
LUA
compile --as-of 2025-01-01
assert_eq "$RC" 0 "one policy ($ERR)"
rm "$P/a.lua"
compile
assert_eq "$RC" 2 "no policy file at all: refused"
assert_contains "$ERR" "no policy files (*.lua) in $P/*.lua" "says there is none"
assert_contains "$ERR" "name each with --forget TABLE" "the hint names --forget"
compile --allow-forget
assert_eq "$RC" 2 "--allow-forget alone does not unregister from an empty directory"
compile --forget public.other
assert_eq "$RC" 2 "--forget of another table does not unregister orders"
assert_contains "$ERR" "public.orders" "names the table that would go"
assert_eq "$(ls "$M" | wc -l)" 2 "nothing written"
compile --forget public.orders
assert_eq "$RC" 0 "--forget of the only policy compiles ($ERR)"
assert_contains "$OUT" "public.orders: no longer managed" "compile says what it unregisters"
assert_contains "$(cat "$M"/0002_*.sql)" "-- partmig:forget public.orders" "forget line"
assert_contains "$(cat "$M"/0002_*.sql)" "action=unregister" "an unregister step"
compile --forget public.orders
assert_contains "$ERR" "up to date" "then up to date"
compile
assert_eq "$RC" 2 "an empty directory without --forget is still refused afterwards"
assert_done
