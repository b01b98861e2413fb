-- Filtered ticket lists. MODE: status_assignee | status_tag | search. Agent ids come from AGENTS_FILE.
-- LIST_PATH: /v1/tickets (the API, default) or /list (bench/list_ceiling.py's bare endpoint, same SQL).
-- bench/open_loop.py's list_paths() makes the same pages; keep the two in step.
local mode = os.getenv("MODE") or "status_assignee"
local list_path = os.getenv("LIST_PATH") or "/v1/tickets"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
local agents = {}
for line in io.lines(os.getenv("AGENTS_FILE") or "/tmp/bench-agents.txt") do agents[#agents + 1] = line end
local tags = {"vip", "bug", "billing", "churn-risk", "tag3", "tag17"}
local statuses = {"open", "pending", "new", "open&status=pending"}
local words = {"printer", "refund", "password", "invoice", "vpn", "login", "outage", "wallet", "tax", "sync"}

request = function()
  local path
  if mode == "status_assignee" then
    path = list_path .. "?status=" .. statuses[math.random(#statuses)] .. "&assignee=" .. agents[math.random(#agents)]
  elseif mode == "status_tag" then
    path = list_path .. "?status=" .. statuses[math.random(#statuses)] .. "&tag=" .. tags[math.random(#tags)]
  else
    path = list_path .. "?q=" .. words[math.random(#words)] .. "+" .. words[math.random(#words)]
  end
  return wrk.format("GET", path .. "&limit=50")
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx/3xx: %d\n", summary.errors.status))
end
