-- delete-without-where
SET lock_timeout = '5s';
DELETE FROM public.audit_logs WHERE created_at < '2020-01-01';
DELETE FROM public.audit_logs; -- expect: delete-without-where
