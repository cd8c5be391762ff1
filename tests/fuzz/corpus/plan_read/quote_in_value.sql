-- partmig migration 0001 x

-- partmig:step 1 action=sql transactional=yes table=a"b undo=none
SELECT 1;
-- partmig:end
