-- index-not-concurrent: a plain CREATE INDEX on a table this file did not create.
SET lock_timeout = '5s';
CREATE TABLE public.fresh (id bigint, tenant_id int);
CREATE INDEX fresh_tenant_idx ON public.fresh (tenant_id);
CREATE INDEX orders_tenant_idx ON public.orders (tenant_id); -- expect: index-not-concurrent
CREATE UNIQUE INDEX IF NOT EXISTS orders_ref_idx -- expect: index-not-concurrent
    ON orders USING btree (ref);
CREATE INDEX IF NOT EXISTS parted_tenant_idx ON ONLY public.parted (tenant_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_at_idx ON public.orders (created_at);
