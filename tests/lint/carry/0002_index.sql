-- 0002 indexes it CONCURRENTLY, which PostgreSQL refuses on a partitioned table;
-- only known when 0001 is linted with it (the directory)
SET lock_timeout = '5s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_id_idx ON public.events (id); -- expect: concurrent-index-on-partitioned
