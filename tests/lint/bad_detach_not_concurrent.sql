-- detach-not-concurrent
SET lock_timeout = '5s';
ALTER TABLE public.parted DETACH PARTITION public.parted_2020_01; -- expect: detach-not-concurrent
ALTER TABLE public.parted DETACH PARTITION public.parted_2020_02 CONCURRENTLY;
ALTER TABLE public.parted DETACH PARTITION public.parted_2020_02 FINALIZE;
