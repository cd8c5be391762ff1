-- truncate-without-guard
SET lock_timeout = '5s';
TRUNCATE public.audit_logs; -- expect: truncate-without-guard
TRUNCATE TABLE ONLY public.a, public.b; -- expect: truncate-without-guard
