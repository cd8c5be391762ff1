-- missing-lock-timeout: DDL on an existing table with no lock_timeout; said
-- once until a SET, and again after the timeout is switched off.
CREATE TABLE public.scratch (a int);
ALTER TABLE public.scratch ADD COLUMN b int;
ALTER TABLE public.orders ADD COLUMN note text; -- expect: missing-lock-timeout
ALTER TABLE public.orders ADD COLUMN note2 text;
SET lock_timeout = '5s';
ALTER TABLE public.orders ADD COLUMN note3 text;
SET lock_timeout = 0;
ALTER TABLE public.orders ADD COLUMN note4 text; -- expect: missing-lock-timeout
SET lock_timeout TO '2s';
ALTER TABLE public.orders ADD COLUMN note5 text;
RESET lock_timeout;
DROP INDEX public.orders_note_idx; -- expect: missing-lock-timeout
