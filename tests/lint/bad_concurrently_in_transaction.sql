-- concurrently-in-transaction: CONCURRENTLY inside BEGIN ... COMMIT or a DO block fails.
SET lock_timeout = '5s';
BEGIN;
CREATE INDEX CONCURRENTLY orders_a_idx ON public.orders (a); -- expect: concurrently-in-transaction
ALTER TABLE public.parted DETACH PARTITION public.parted_2020 CONCURRENTLY; -- expect: concurrently-in-transaction
DROP INDEX CONCURRENTLY public.orders_b_idx; -- expect: concurrently-in-transaction
COMMIT;
CREATE INDEX CONCURRENTLY orders_c_idx ON public.orders (c);
DO $$
BEGIN
    CREATE INDEX CONCURRENTLY orders_d_idx ON public.orders (d); -- expect: concurrently-in-transaction
END
$$;
