partition "documents" { by = "hash", column = "tenant_id", modulus = 8,
  indexes = { { columns = { "tenant_id", "created_at" }, method = "btree" } } }
