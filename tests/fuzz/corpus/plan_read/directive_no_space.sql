-- partmig migration 0001 x
--partmig:step 1 action=sql

-- partmig:step 1 action=sql transactional=yes undo=sql
SELECT 1;
-- partmig:undo
--partmig:end
-- partmig:end
