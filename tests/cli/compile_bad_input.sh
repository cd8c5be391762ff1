#!/usr/bin/env bash
# compile_bad_input.sh: every class of bad policy gets exit 2 and a message
# naming file:line (the line of the bad key itself), the partition, the key
# and what is allowed, and a hint saying how to fix it; a hostile table name
# never reaches a migration file.
. tests/lib/assert.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# bad POLICY_BODY EXPECTED_LINE EXPECTED_TEXT...
bad() {
    local body=$1 line=$2
    shift 2
    printf '%s\n' "-- bad input case" "$body" >"$tmp/p.lua"
    rm -rf "$tmp/m"
    run_cmd "$PARTMIG" compile "$tmp/p.lua" -o "$tmp/m" --as-of 2025-01-01
    assert_eq "$RC" 2 "exit code for: $body"
    assert_contains "$ERR" "$tmp/p.lua:$line: " "file:line for: $body"
    for want in "$@"; do assert_contains "$ERR" "$want" "message for: $body"; done
    assert_contains "$ERR" $'\nhint: ' "a hint for: $body"
    [ -e "$tmp/m" ] && fail "output written for: $body" || pass
}
R='column = "created_at", interval = "1 month"'

bad 'partition "t" { column = "created_at", interval = "1 monht" }' 2 \
    'partition "t": interval "1 monht": expected N hour|day|week|month|quarter|year or an integer step'
bad 'partition "t" { '"$R"', colour = "red" }' 2 'unknown key "colour"' 'allowed: schema, by'
bad 'partition "t" { '"$R"', retention = { keep = "24 months", kep_table = true } }' 2 'unknown key "retention.kep_table"'
bad 'partition "t" { by = "rnage", column = "c" }' 2 'by "rnage": expected "range" | "list" | "hash"'
bad 'partition "t" { '"$R"', premake = "3" }' 2 'premake: expected an integer 0..1000, got string'
bad 'partition "t" { '"$R"', default_partition = "yes" }' 2 'default_partition: expected true or false'
bad 'partition "t" { '"$R"', start = "2024-02-30" }' 2 'start "2024-02-30": expected a real date'
bad 'partition "t" { by = "hash", column = "id", modulus = 4, existing = { method = "attach" } }' 2 \
    'existing.method "attach" needs by = "range"'
bad 'partition "t" { '"$R"', retention = { keep = "24 months", archive = "dump:/backups/../etc" } }' 2 \
    'may not climb with ".."'
bad 'partition "t$x" { '"$R"' }' 2 'table name "t$x"'
bad 'partition "t" { '"$R"', timezone = "Mars/Olympus Mons" }' 2 'timezone "Mars/Olympus Mons"'
bad 'partition "t" { '"$R"', naming = "{table}_{YYYY}" }' 2 'naming "{table}_{YYYY}": must contain {YYYY} {MM}'
bad 'partition "t" { '"$R"', naming = "{table}_{WHEN}" }' 2 'unknown placeholder'
bad 'partition "t" { '"$R"', retention = { keep = "2 weeks" } }' 2 'retention.keep is shorter than one interval'
bad 'partition "t" { '"$R"', retention = { keep = "1 fortnight" } }' 2 'retention.keep "1 fortnight"'
bad 'partition "t" { '"$R"', retention = { keep = "12 months", archive = "s3:bucket" } }' 2 'expected nil, "schema:<name>" or "dump:<directory>"'
bad 'partition "t" { '"$R"', retention = { keep = "12 months" }, tiering = { { older_than = "12 months", tablespace = "cold" } } }' 2 'tiering[1].older_than is not shorter than retention.keep'
bad 'partition "t" { by = "hash", column = "c", modulus = 1 }' 2 'modulus 1: expected an integer 2..1024'
bad 'partition "t" { by = "hash", column = "c", modulus = 4, interval = "1 month" }' 2 'by "hash" takes no "interval"'
bad 'partition "t" { by = "list", column = "c" }' 2 'by "list" needs "values"'
bad 'partition "t" { by = "list", column = "c", values = { a = { "x" }, b = { "x" } } }' 2 'value "x" appears twice'
bad 'partition "t" { by = "list", column = "c", values = { a = { "x\ny" } } }' 2 'control character'
bad 'partition "t" { '"$R"', existing = { jobs = 64 } }' 2 'existing.jobs 64: expected an integer 1..16'
bad 'partition "t" { '"$R"', existing = { batch_size = 10 } }' 2 'existing.batch_size 10: expected an integer 100..10000000'
bad 'partition "t" { '"$R"', existing = { method = "move" } }' 2 'existing.method "move": expected "copy" | "attach" | "none"'
bad 'partition "t" { by = "hash", column = "c", modulus = 4, backend = "pg_partman" }' 2 'backend "pg_partman" supports only range'
bad 'partition "t" { '"$R"', primary_key = { "id" } }' 2 'primary_key must include the partition key "created_at"' 'hint: PostgreSQL requires it'
bad 'partition "t" { '"$R"', indexes = { { columns = { "email" }, unique = true } } }' 2 'unique index on a partitioned table must include the partition key' 'hint: add "created_at"'
bad 'partition "t" { '"$R"', columns = { { "id", "bigint; DROP TABLE x" }, { "created_at", "timestamptz" } } }' 2 'type "bigint; DROP TABLE x"'
bad 'partition "t" { '"$R"', columns = { { "id", "bigint -- x" }, { "created_at", "timestamptz" } } }' 2 'without ; -- /* */'
bad 'partition "t" { '"$R"', columns = { { "id", "bigint" } } }' 2 'the partition key "created_at" is not among the columns'
bad 'partition "t" { '"$R"', subpartition = { by = "hash", column = "k" } }' 2 'subpartition by "hash" needs "modulus"'
bad 'partition "t" { interval = "1 month" }' 2 '"column" is required'
bad 'partition "T" { '"$R"' }' 2 'table name "T": expected a lowercase SQL name'
bad 'partition "t" { '"$R"', schema = "Public Schema" }' 2 'schema "Public Schema"'
bad 'partition "t" { column = "created at", interval = "1 month" }' 2 'column "created at"'
bad 'partition "t" { '"$R"', indexes = { { columns = { "a" }, method = "btree2" } } }' 2 'indexes[1].method "btree2"'
bad 'partition "t" { '"$R"' }
partition "t" { '"$R"' }' 3 'table "public.t" is declared twice' "hint: the first is at $tmp/p.lua:2"
bad 'partition "t" {
  '"$R"',
  interval = 3.5,
}' 4 'partition "t": interval 3.5'
bad 'defaults { premake = -1 }' 2 'defaults: premake -1: expected an integer 0..1000'
bad 'defaults { schema = "s" } partition "t" { '"$R"', naming = 5 }' 2 'naming: expected a string, got an integer'
bad 'partition "t" { '"$R"',
}}' 3 "unexpected symbol near '}'"
bad 'partition "t" "u"' 2 'expected partition "t" { key = value, ... }'
bad 'partition (42) { }' 2 'expected a table name'

# the line of the bad key, not of the `partition` call (line 1 is the case's comment)
bad 'defaults { premake = 3 }
partition "t" {
  column = "created_at",
  interval = "1 month",
  timezone = "Europe/Pari",
}' 6 'timezone "Europe/Pari": not a time zone name PostgreSQL knows' 'hint: did you mean "Europe/Paris"?'
bad 'defaults {
  timezone = "Berlin",
}
partition "t" { '"$R"' }' 3 'defaults: timezone "Berlin"' 'hint: did you mean "Europe/Berlin"?'
bad 'partition "t" { '"$R"', timezone = "CET" }' 2 'timezone "CET": expected an IANA Area/City name'
bad 'partition "t" {
  '"$R"',
  retention = {
    keep = "24 months",
    kep_table = true,
  },
}' 6 'unknown key "retention.kep_table"' 'hint: did you mean "keep_table"?'
bad 'partition "t" {
  '"$R"',
  indexes = {
    { columns = { "tenant_id" } },
    { columns = { "email" },
      unique = true },
  },
}' 6 'indexes[2]: a unique index on a partitioned table must include the partition key' 'hint: add "created_at"'
bad 'partition "t" {
  '"$R"',
  indexes = { { columns = { "a" } }, { columns = { "b" },
    method = "btree2" } },
}' 5 'indexes[2].method "btree2"' 'hint: for example method = "btree"'
bad 'partition "t" {
  by = "list", column = "region",
  values = {
    eu = { "DE", "FR" },
    us = { "US", "DE" },
  },
}' 6 'value "DE" appears twice' 'hint: a value may route to one partition only'
bad 'partition "t" {
  '"$R"',
  columns = {
    { "id", "bigint" },
    { "created_at", "timestamptz; DROP TABLE x" },
  },
}' 6 'type "timestamptz; DROP TABLE x"'
bad 'partition "t" {
  '"$R"',
  -- a comment with a { brace and "quotes"
  primary_key = { "id" },
}' 5 'primary_key must include the partition key' 'hint: PostgreSQL requires it'
bad 'partition "t" {
  '"$R"',
  tiering = {
    { older_than = "1 month", tablespace = "warm" },
    { older_than = "6 months",
      tablespace = "Cold" },
  },
}' 7 'tiering tablespace "Cold"'
bad 'partition "t" {
  '"$R"',
  retention = { keep = "12 months" },
  tiering = { { older_than = "12 months", tablespace = "cold" } },
}' 5 'tiering[1].older_than is not shorter than retention.keep'
bad 'partition "t" { '"$R"', retention = { keep = "12 months" },
  existing = { method = "copy",
    jobs = 99 } }' 4 'existing.jobs 99: expected an integer 1..16' 'hint: for example jobs = 2'
bad 'partition "t" {
  '"$R"',
  subpartition = { by = "hash",
    column = "created_at", modulus = 4 },
}' 5 'subpartition.column must differ' 'hint: for example column = "tenant_id"'
bad 'partition "t" {
  column = "created_at",
  interval = "1 month",
  start = [[2024-13-01]],
}' 5 'start "2024-13-01": expected a real date'
bad 'for _, name in ipairs { "a", "b" } do
  partition(name) {
    column = "created_at",
    interval = "1 month",
    premak = 3,
  }
end' 6 'partition "a": unknown key "premak"' 'hint: did you mean "premake"?'

# hostile names are refused and never become SQL
bad 'partition "x\"; DROP TABLE y; --" { '"$R"' }' 2 'expected a lowercase SQL name'
bad 'partition "t" { column = "created_at\"); DROP TABLE y; --", interval = "1 month" }' 2 'expected a lowercase SQL name'
bad 'partition "t" { '"$R"', schema = "public\".\"x" }' 2 'schema "public"."x"'
printf '%s\n' 'partition "good" { column = "created_at", interval = "1 month" }' \
    'partition "x\"; DROP TABLE y; --" { column = "created_at", interval = "1 month" }' >"$tmp/p.lua"
run_cmd "$PARTMIG" compile "$tmp/p.lua" -o "$tmp/m2" --as-of 2025-01-01
assert_eq "$RC" 2 "a file with one hostile table is refused as a whole"
if grep -rq "DROP TABLE y" "$tmp/m2" 2>/dev/null; then fail "hostile name reached a migration file"; else pass; fi
assert_done
