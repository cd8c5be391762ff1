-- carry/: files of one directory are one history; 0001 makes public.events partitioned
SET lock_timeout = '5s';
CREATE TABLE IF NOT EXISTS public.events (id bigint NOT NULL, at timestamptz NOT NULL) PARTITION BY RANGE (at);
