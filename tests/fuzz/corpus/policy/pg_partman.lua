partition "metrics" { column = "ts", interval = "1 week", premake = 4, backend = "pg_partman",
  columns = { { "id", "bigint not null" }, { "ts", "timestamptz not null" } }, primary_key = { "id", "ts" },
  retention = { keep = "8 weeks", keep_table = false } }
