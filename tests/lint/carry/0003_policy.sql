-- partmig migration 0003 policyline
-- the policy line below says partmig manages public.other as a partitioned table

SET lock_timeout = '5s';

-- partmig:step 1 action=sql transactional=no table=public.other undo=none
-- an index built the wrong way on a managed (partitioned) table
CREATE INDEX CONCURRENTLY IF NOT EXISTS other_a_idx ON "public"."other" (a); -- expect: concurrent-index-on-partitioned
-- partmig:end

-- partmig:policy {"schema":"public","table":"other","by":"range"}
