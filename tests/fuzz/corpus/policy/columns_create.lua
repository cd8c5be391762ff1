partition "api_calls" { by = "range", column = "at", interval = "1 day", start = "2025-03-13", premake = 1,
  columns = { { "id", "bigint generated always as identity" }, { "at", "timestamptz not null" },
              { "route", "text not null default '/'" }, { "status", "integer" } },
  primary_key = { "id", "at" },
  indexes = { { columns = { "route" } } } }
