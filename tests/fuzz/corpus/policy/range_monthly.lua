-- range by month from a start: static partitions through as-of + premake
partition "invoices" {
  by = "range", column = "issued_on", interval = "1 month", start = "2024-11-01", premake = 2,
  default_partition = true,
  indexes = { { columns = { "customer_id", "issued_on" }, unique = true, name = "invoices_customer_key" } },
  retention = { keep = "7 years", keep_table = true, archive = "schema:archive" },
  tiering = { { older_than = "1 year", tablespace = "cold" } },
}
