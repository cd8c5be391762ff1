-- partmig migration 0002 lintfixture
-- what: risky statements inside partmig steps are found at their file line

SET client_encoding = 'UTF8';
SET lock_timeout = '5s';

-- partmig:step 1 action=ensure_table transactional=yes table=public.events undo=auto
-- adopt the partitioned table (exists already)
-- partmig:end

-- partmig:step 2 action=sql transactional=yes table=public.events undo=sql
-- a concurrent index inside a transactional step, on a partitioned parent
-- (second comment line)

SELECT 1;
CREATE INDEX CONCURRENTLY IF NOT EXISTS "events_id_idx" -- expect: concurrently-in-transaction concurrent-index-on-partitioned
    ON "public"."events" ("id");
-- partmig:undo
-- SELECT 1;
-- ALTER TABLE "public"."orders" ALTER COLUMN "id" TYPE bigint; -- expect: column-type-rewrite
-- DROP TABLE "public"."orders";
-- partmig:end

-- partmig:step 3 action=sql transactional=no table=public.orders undo=none
DROP TABLE "public"."orders"; -- expect: drop-without-guard
-- partmig:end
