SET lock_timeout = '5s';
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM t) THEN
        DROPP TABLE t;
    END IF;
END
$$;
