-- vacuum-full
SET lock_timeout = '5s';
VACUUM FULL public.orders; -- expect: vacuum-full
VACUUM (FULL, ANALYZE) public.orders; -- expect: vacuum-full
VACUUM (FULL false) public.orders;
VACUUM ANALYZE public.orders;
