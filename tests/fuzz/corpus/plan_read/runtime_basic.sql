-- partmig migration 0001 events
-- what: partition public.events by month (hand-written runtime fixture)
-- source: tests/fixtures/runtime (no compiler involved)

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SET search_path = pg_catalog;
SET lock_timeout = '1s';
SET statement_timeout = 0;
SET client_min_messages = warning;

-- partmig:step 1 action=ensure_table transactional=yes table=public.events undo=auto lock="ACCESS EXCLUSIVE on public.events"
-- create the partitioned table public.events
CREATE TABLE IF NOT EXISTS "public"."events" (
    "id" bigint generated always as identity,
    "created_at" timestamptz not null,
    "tenant_id" integer not null,
    "payload" text,
    PRIMARY KEY ("id", "created_at")
) PARTITION BY RANGE ("created_at");
-- partmig:end

-- partmig:step 2 action=sql transactional=yes table=public.events undo=sql lock="ACCESS EXCLUSIVE on public.events"
-- the first partition, known at compile time
CREATE TABLE IF NOT EXISTS "public"."events_p2026_06" PARTITION OF "public"."events"
    FOR VALUES FROM ('2026-06-01 00:00:00 UTC') TO ('2026-07-01 00:00:00 UTC');
-- partmig:undo
-- DROP TABLE IF EXISTS "public"."events_p2026_06";
-- partmig:end

-- partmig:step 3 action=premake transactional=yes table=public.events undo=auto lock="ACCESS EXCLUSIVE on public.events"
-- partitions from the start through now + 3 months
-- partmig:end

-- partmig:step 4 action=sql transactional=yes table=public.events undo=sql lock="SHARE on public.events"
-- parent index on tenant_id (ON ONLY: partitions are built concurrently next)
CREATE INDEX IF NOT EXISTS "events_tenant_id_idx" ON ONLY "public"."events" USING btree ("tenant_id");
-- partmig:undo
-- DROP INDEX IF EXISTS "public"."events_tenant_id_idx";
-- partmig:end

-- partmig:step 5 action=build_index transactional=no table=public.events undo=auto index=events_tenant_id_idx lock="SHARE UPDATE EXCLUSIVE on each partition"
-- build events_tenant_id_idx on every partition concurrently and attach it
-- partmig:end

-- partmig:step 6 action=register transactional=yes table=public.events undo=auto
-- register the policy of public.events
-- partmig:end

-- policy state after this version (read by partmig; do not edit)
-- partmig:policy {"backend":"native","by":"range","column":"created_at","columns":[["id","bigint generated always as identity"],["created_at","timestamptz not null"],["tenant_id","integer not null"],["payload","text"]],"default_partition":false,"existing":{"batch_size":50000,"jobs":1,"method":"copy"},"indexes":[{"columns":["tenant_id"],"method":"btree","name":"events_tenant_id_idx","unique":false}],"interval":"1 month","modulus":0,"naming":"{table}_p{YYYY}_{MM}","premake":3,"primary_key":["id","created_at"],"retention":{"archive":null,"keep":"12 months","keep_index":true,"keep_table":false},"schema":"public","start":"2026-06-01","subpartition":null,"table":"events","tiering":[],"timezone":"UTC","values":[]}
