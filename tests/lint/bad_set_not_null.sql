-- set-not-null
SET lock_timeout = '5s';
ALTER TABLE public.orders ALTER COLUMN created_at SET NOT NULL; -- expect: set-not-null
