-- The safe way to do each risky thing: must lint clean.
SET lock_timeout = '3s';
SET statement_timeout = 0;

-- indexes on an existing table: CONCURRENTLY, outside a transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_tenant_idx ON public.orders (tenant_id);

-- indexes on a large partitioned table: ON ONLY, per partition, ATTACH
CREATE INDEX IF NOT EXISTS parted_tenant_idx ON ONLY public.parted (tenant_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS parted_2025_01_tenant_idx ON public.parted_2025_01 (tenant_id);
ALTER INDEX public.parted_tenant_idx ATTACH PARTITION public.parted_2025_01_tenant_idx;

-- constraints: NOT VALID, then VALIDATE
ALTER TABLE public.orders ADD CONSTRAINT orders_customer_fk
    FOREIGN KEY (customer_id) REFERENCES public.customers (id) NOT VALID;
ALTER TABLE public.orders VALIDATE CONSTRAINT orders_customer_fk;

-- retention: DETACH CONCURRENTLY
ALTER TABLE public.parted DETACH PARTITION public.parted_2020_01 CONCURRENTLY;

-- a new table may be indexed, altered, emptied and dropped freely
CREATE TABLE IF NOT EXISTS public.staging (id bigint, v text) PARTITION BY HASH (id);
CREATE TABLE IF NOT EXISTS public.staging_0 PARTITION OF public.staging FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE INDEX staging_v_idx ON public.staging (v);
ALTER TABLE public.staging ADD CONSTRAINT staging_v_check CHECK (v <> '');
ALTER TABLE public.staging ALTER COLUMN v SET DATA TYPE varchar(100);
TRUNCATE public.staging;
DROP TABLE public.staging;

-- dropping data that was archived first
CREATE TABLE archive.orders_2019 AS SELECT * FROM public.orders_2019;
DROP TABLE public.orders_2019;
INSERT INTO archive.orders_2020 SELECT o.* FROM public.orders_2020 AS o;
TRUNCATE public.orders_2020;

-- dropping data behind an emptiness guard
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.journal_entries_old) THEN
        DROP TABLE public.journal_entries_old;
    END IF;
END
$$;
DO $guard$
BEGIN
    IF EXISTS (SELECT 1 FROM public.audit_logs_old LIMIT 1) THEN
        RAISE EXCEPTION 'public.audit_logs_old is not empty';
    END IF;
    DROP TABLE public.audit_logs_old;
END
$guard$;

-- a reviewed exception
-- partmig-lint: allow vacuum-full
VACUUM FULL public.tiny_lookup;

-- a transaction with SET LOCAL
BEGIN;
SET LOCAL lock_timeout = '1s';
ALTER TABLE public.orders ADD COLUMN IF NOT EXISTS note text;
COMMIT;
DELETE FROM public.sessions WHERE expires_at < now();
