-- PATCH /v1/tickets/{id}: toggle the priority of a random open ticket in [1, TICKETS] (status new/open,
-- from bench/load_data.py's deterministic statuses, is not required: any non-closed ticket takes it;
-- closed ones answer 409 and are counted as non-2xx).
local tickets = tonumber(os.getenv("TICKETS") or "1000000")
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
wrk.headers["Content-Type"] = "application/json"
local priorities = {"low", "normal", "high", "urgent"}

request = function()
  local body = string.format('{"priority":"%s"}', priorities[math.random(1, 4)])
  return wrk.format("PATCH", "/v1/tickets/" .. math.random(1, tickets), nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx/3xx: %d\n", summary.errors.status))
end
