#!/usr/bin/env bash
# convert_refusals.sh: conversions pre-flight must refuse cleanly (exit 1 or
# 2 with a message, never a crash) and leave the table as it was:
# existing.method = "attach" with a hash or list policy, and attach of a
# table without any primary key.
set -u
. "$PARTMIG_SOURCE/tests/lib/pg.sh"
. "$PARTMIG_SOURCE/tests/lib/assert.sh"
cd "$PARTMIG_SOURCE"
pg_start
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE public.tickets (id bigint PRIMARY KEY, tenant_id int NOT NULL, region text NOT NULL,
    created_at timestamptz NOT NULL);
INSERT INTO public.tickets SELECT g, g % 7, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END,
    timestamptz '2025-01-01 UTC' + g * interval '1 hour' FROM generate_series(1, 500) g;
CREATE TABLE public.nokey (tenant_id int NOT NULL, note text, created_at timestamptz NOT NULL);
INSERT INTO public.nokey SELECT g, 'n', timestamptz '2025-01-01 UTC' + g * interval '1 hour' FROM generate_series(1, 50) g;
SQL
POL="$PARTMIG_TEST_DIR/policies"
schema_dump() { pg_dump --schema-only --exclude-schema=partmig | grep -Ev '^\\(un)?restrict '; }

# refuse POLICY_TEXT NAME MESSAGE...: compile, apply, expect a clean refusal
refuse() {
    local text=$1 name=$2
    shift 2
    rm -rf "$POL" "$PARTMIG_TEST_DIR/mig"
    psql_q "DROP SCHEMA IF EXISTS partmig CASCADE" 2>/dev/null
    mkdir -p "$POL"
    echo "$text" >"$POL/$name.lua"
    run_cmd "$PARTMIG" compile "$POL" -o "$PARTMIG_TEST_DIR/mig"
    if [ "$RC" = 2 ]; then
        # the compiler refuses it (its own validation): a clean refusal too
        assert_contains "$ERR" "attach" "$name: the compiler names the method"
        return
    fi
    assert_eq "$RC" 0 "$name: compile ($ERR)"
    schema_dump >"$PARTMIG_TEST_DIR/before.sql"
    run_cmd "$PARTMIG" apply -d "$PARTMIG_TEST_DIR/mig"
    echo "$ERR"
    assert_eq "$([ "$RC" = 1 ] || [ "$RC" = 2 ] && echo clean)" clean "$name: refused with exit 1 or 2, not a crash (rc $RC)"
    for m in "$@"; do assert_contains "$ERR" "$m" "$name: message"; done
    assert_contains "$ERR" "nothing was changed" "$name: says nothing changed"
    schema_dump >"$PARTMIG_TEST_DIR/after.sql"
    if cmp -s "$PARTMIG_TEST_DIR/before.sql" "$PARTMIG_TEST_DIR/after.sql"; then pass; else fail "$name: schema changed"; fi
    assert_eq "$(psql_q "SELECT relkind FROM pg_class WHERE oid = 'public.$(echo "$text" | sed -n 's/^partition "\([a-z]*\)".*/\1/p')'::regclass")" r "$name: still a plain table"
}

refuse 'partition "tickets" { column = "tenant_id", by = "hash", modulus = 4, primary_key = { "id", "tenant_id" }, existing = { method = "attach" } }' hash \
    'needs a range policy' 'partitioned by hash' 'method = "copy"'
refuse 'partition "tickets" { column = "region", by = "list", values = { eu = { "eu" }, us = { "us" } }, primary_key = { "id", "region" }, existing = { method = "attach" } }' list \
    'needs a range policy' 'partitioned by list'
refuse 'partition "nokey" { column = "created_at", interval = "1 month", existing = { method = "attach" } }' nokey \
    '"public.nokey" has no primary key and the policy names none'
assert_eq "$(psql_q "SELECT count(*) FROM public.tickets")" 500 "rows untouched"
assert_done
