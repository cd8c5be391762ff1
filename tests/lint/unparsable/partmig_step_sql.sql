-- partmig migration 0001 broken
SET lock_timeout = '5s';

-- partmig:step 1 action=sql transactional=yes undo=sql
-- a title
SELECT 1;
SELECT FROM WHERE;
-- partmig:undo
-- SELECT 1;
-- partmig:end
