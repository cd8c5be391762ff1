partition "orders_by_region" { by = "list", column = "region",
  values = { emea = { "DE", "FR" }, amer = { "US", "CA" } }, default_partition = true }
