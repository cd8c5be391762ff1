-- valid but hostile-looking values: they become quoted literals, never SQL
partition "notes" { by = "list", column = "tag", schema = "app_data",
  values = { odd = { "O'Brien", "x\"; DROP TABLE y; --", "$partmig$", "--" }, plain = { "a" } } }
