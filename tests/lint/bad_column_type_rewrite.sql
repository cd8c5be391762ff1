-- column-type-rewrite
SET lock_timeout = '5s';
ALTER TABLE public.orders ALTER COLUMN id SET DATA TYPE bigint; -- expect: column-type-rewrite
ALTER TABLE public.orders ALTER COLUMN qty TYPE numeric USING qty::numeric; -- expect: column-type-rewrite
