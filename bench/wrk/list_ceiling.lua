-- status+assignee pages for bench/list_ceiling.py (P=/rows or /json) or the API (P=/v1/tickets, TOKEN set).
local agents = {}
for line in io.lines(os.getenv("AGENTS_FILE") or "/tmp/bench-agents.txt") do agents[#agents + 1] = line end
local statuses = {"open", "pending", "new"}
local path = os.getenv("P")
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
request = function()
  return wrk.format("GET", path .. "?status=" .. statuses[math.random(#statuses)] .. "&assignee=" ..
    agents[math.random(#agents)] .. "&limit=50")
end
