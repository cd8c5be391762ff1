-- drop-without-guard: a DROP TABLE of data nobody archived or checked.
SET lock_timeout = '5s';
DROP TABLE IF EXISTS public.journal_entries_old; -- expect: drop-without-guard
DROP TABLE public.a, public.b; -- expect: drop-without-guard
DO $$
BEGIN
    IF true THEN
        DROP TABLE public.c; -- expect: drop-without-guard
    END IF;
END
$$;
