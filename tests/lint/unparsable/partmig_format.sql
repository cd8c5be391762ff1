-- partmig migration 0001 broken
SET lock_timeout = '5s';

-- partmig:step 1 action=sql transactional=yes undo=none
SELECT 1;
