-- daily partitions in a zone other than UTC, generated with a loop
for _, name in ipairs({ "clicks", "views" }) do
  partition(name) {
    column = "at", interval = "1 day", start = "2025-03-10", premake = 2, timezone = "Europe/Berlin",
    retention = { keep = "30 days" },
  }
end
