-- squawk's ignore comments hold for partmig's rule that flags the same thing
-- (squawk-ignore RULE on the line above a statement; text after a second
-- "--" is the reason); one naming another rule does not.
SET lock_timeout = '5s';
-- squawk-ignore require-concurrent-index-creation -- reviewed: the table is empty
CREATE INDEX orders_tenant_idx ON public.orders (tenant_id);
-- squawk-ignore ban-drop-table, require-concurrent-index-creation
CREATE INDEX orders_ref_idx ON public.orders (ref);
/* squawk-ignore require-concurrent-index-creation */
CREATE INDEX orders_day_idx ON public.orders (day);
-- no rule named: squawk ignores nothing on the line after, nor does partmig
-- squawk-ignore
CREATE INDEX orders_all_idx ON public.orders (a); -- expect: index-not-concurrent
-- squawk-ignore ban-drop-table
CREATE INDEX orders_at_idx ON public.orders (created_at); -- expect: index-not-concurrent
-- squawk-ignore-files require-concurrent-index-creation
CREATE INDEX orders_b_idx ON public.orders (b); -- expect: index-not-concurrent
-- a comment that mentions squawk-ignore require-concurrent-index-creation in passing
CREATE INDEX orders_c_idx ON public.orders (c); -- expect: index-not-concurrent
-- squawk-ignore ban-drop-table -- for the DROP only
DROP TABLE public.old_orders;
DROP TABLE public.older_orders; -- expect: drop-without-guard
