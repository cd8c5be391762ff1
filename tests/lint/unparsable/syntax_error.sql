-- a syntax error on line 4
SET lock_timeout = '5s';
SELECT 1;
CREAT INDEX i ON t (a);
