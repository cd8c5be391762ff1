-- an existing plain table converted by attaching it as the first partition
-- (zero-copy), with a policy index and a primary key holding the column
partition "events" {
  by = "range", column = "happened_at", interval = "1 month", premake = 2,
  primary_key = { "id", "happened_at" },
  indexes = { { columns = { "account_id" } } },
  existing = { method = "attach" },
}
