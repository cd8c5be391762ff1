-- partmig migration 0001 lintfixture
-- what: a hand-written migration in partmig's format, the safe patterns
-- source: tests/lint/good_partmig.sql

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SET search_path = pg_catalog;
SET lock_timeout = '5s';
SET statement_timeout = 0;
SET client_min_messages = warning;

-- partmig:step 1 action=ensure_table transactional=yes table=public.events undo=auto lock="ACCESS EXCLUSIVE on public.events"
-- create the partitioned table
CREATE TABLE IF NOT EXISTS "public"."events" (
    "id" bigint NOT NULL,
    "at" timestamptz NOT NULL
) PARTITION BY RANGE ("at");
-- partmig:end

-- partmig:step 2 action=premake transactional=yes table=public.events undo=auto
-- partitions around now
-- partmig:end

-- partmig:step 3 action=sql transactional=yes table=public.events undo=sql lock="SHARE on public.events"
-- parent index, on the parent only
CREATE INDEX IF NOT EXISTS "events_at_idx" ON ONLY "public"."events" ("at");
-- partmig:undo
-- DROP INDEX IF EXISTS "public"."events_at_idx";
-- partmig:end

-- partmig:step 4 action=build_index transactional=no table=public.events undo=auto index=events_at_idx
-- each partition's index, concurrently, then attach
-- partmig:end

-- partmig:step 5 action=sql transactional=no table=public.orders undo=sql lock="SHARE UPDATE EXCLUSIVE on public.orders"
-- an index on an existing plain table
CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_at_idx" ON "public"."orders" ("at");
-- partmig:undo
-- DROP INDEX CONCURRENTLY IF EXISTS "public"."orders_at_idx";
-- partmig:end

-- partmig:step 6 action=sql transactional=yes table=public.legacy undo=sql
-- a table that is dropped by undo only
CREATE TABLE IF NOT EXISTS "public"."legacy_copy" (LIKE "public"."legacy");
-- partmig:undo
-- DROP TABLE IF EXISTS "public"."legacy_copy";
-- TRUNCATE "public"."legacy";
-- partmig:end

-- policy state after this version (read by partmig; do not edit)
-- partmig:policy {"table":"public.events"}
