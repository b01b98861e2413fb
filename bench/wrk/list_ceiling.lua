local agents = {}
for line in io.lines("/tmp/bench-agents.txt") do agents[#agents + 1] = line end
local statuses = {"open", "pending", "new"}
local path = os.getenv("P")
request = function()
  return wrk.format("GET", path .. "?status=" .. statuses[math.random(#statuses)] .. "&assignee=" .. agents[math.random(#agents)])
end
