-- PATCH /v1/tickets/{id}: set the tags of a random ticket in [1, TICKETS]. Tags only, so SLA due
-- instants stay where bench/sla_breach.py put them (a priority change would retarget the ticket).
local tickets = tonumber(os.getenv("TICKETS") or "1000000")
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
wrk.headers["Content-Type"] = "application/json"
local choices = {'["a"]', '["b"]', '["a","b"]'}

request = function()
  local body = '{"tags":' .. choices[math.random(1, 3)] .. '}'
  return wrk.format("PATCH", "/v1/tickets/" .. math.random(1, tickets), nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx/3xx: %d\n", summary.errors.status))
end
