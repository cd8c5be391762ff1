-- a sub-partitioned table converted by copy with a policy index: the new
-- table's indexes are built on its parent (PostgreSQL recursing), the
-- policy's under a staged name until the swap
partition "readings" {
  column = "taken_at", interval = "1 month", premake = 1,
  subpartition = { by = "hash", column = "sensor_id", modulus = 2 },
  primary_key = { "id", "taken_at", "sensor_id" },
  indexes = { { columns = { "sensor_id", "taken_at" }, unique = true } },
}
