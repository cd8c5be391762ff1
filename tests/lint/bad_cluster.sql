-- cluster
SET lock_timeout = '5s';
CLUSTER public.orders USING orders_pkey; -- expect: cluster
