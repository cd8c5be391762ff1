partition "measurements" {
  column = "taken_at", interval = "1 quarter", start = "2024-01-01", premake = 1,
  subpartition = { by = "hash", column = "sensor_id", modulus = 4 },
  primary_key = { "id", "taken_at", "sensor_id" },
}
partition "sales" { by = "list", column = "country", values = { dach = { "DE", "AT", "CH" }, nordics = { "SE", "NO" } },
  subpartition = { by = "list", column = "channel", values = { web = { "web" }, shop = { "shop", "kiosk" } } } }
