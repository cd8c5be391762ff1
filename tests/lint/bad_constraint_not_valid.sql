-- constraint-not-valid
SET lock_timeout = '5s';
ALTER TABLE public.orders ADD CONSTRAINT orders_customer_fk -- expect: constraint-not-valid
    FOREIGN KEY (customer_id) REFERENCES public.customers (id);
ALTER TABLE public.orders ADD CONSTRAINT orders_qty_check CHECK (qty > 0); -- expect: constraint-not-valid
ALTER TABLE public.orders ADD CONSTRAINT orders_qty_check2 CHECK (qty > 0) NOT VALID;
ALTER TABLE public.orders VALIDATE CONSTRAINT orders_qty_check2;
CREATE TABLE public.fresh (id int);
ALTER TABLE public.fresh ADD CONSTRAINT fresh_id_check CHECK (id > 0);
