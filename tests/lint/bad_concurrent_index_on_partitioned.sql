-- concurrent-index-on-partitioned: PostgreSQL refuses CONCURRENTLY on a partitioned parent.
SET lock_timeout = '5s';
CREATE TABLE IF NOT EXISTS "public"."events" (id bigint NOT NULL, at timestamptz NOT NULL)
    PARTITION BY RANGE (at);
CREATE TABLE IF NOT EXISTS "public"."events_2025_01" PARTITION OF "public"."events"
    FOR VALUES FROM ('2025-01-01 00:00:00 UTC') TO ('2025-02-01 00:00:00 UTC');
CREATE INDEX CONCURRENTLY events_at_idx ON "public"."events" (at); -- expect: concurrent-index-on-partitioned
CREATE INDEX CONCURRENTLY events_id_idx ON ONLY public.events (id); -- expect: concurrent-index-on-partitioned
CREATE INDEX CONCURRENTLY events_2025_01_id_idx ON public.events_2025_01 (id);
CREATE INDEX events_id2_idx ON ONLY public.events (id);
