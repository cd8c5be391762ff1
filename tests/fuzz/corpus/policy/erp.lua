-- erp.lua: partition policies for the ERP's three largest tables.
--
-- The tables exist already (the application's schema created them with
-- `id bigserial PRIMARY KEY`); partmig converts them online.  A partitioned
-- table's primary key must include the partition key, so each policy names
-- the new key.  No `start`: the first partitions cover the oldest rows.

defaults { schema = "public", by = "range", interval = "1 month", premake = 3, timezone = "UTC" }

partition "journal_entries" {
  column      = "created_at",
  primary_key = { "id", "created_at" },
  indexes     = { { columns = { "tenant_id" } } },
  retention   = { keep = "24 months" },
}

partition "audit_logs" {
  column      = "created_at",
  primary_key = { "id", "created_at" },
  retention   = { keep = "12 months", keep_index = false },
}

partition "workflow_logs" {
  column      = "run_at",
  primary_key = { "id", "run_at" },
  retention   = { keep = "6 months" },
}
