-- integer range key with a step
partition "events" { column = "id", interval = 1000000, start = 0, premake = 2, naming = "{table}_from_{N}" }
