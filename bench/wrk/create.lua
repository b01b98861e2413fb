-- POST /v1/tickets for existing customers (by email: the upsert path) with a few tags.
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")
wrk.headers["Content-Type"] = "application/json"
local customers = tonumber(os.getenv("CUSTOMERS") or "200000")

request = function()
  local body = string.format(
    '{"subject":"Bench ticket %d","message":"The printer says PC LOAD LETTER again.",' ..
    '"requester_email":"customer%d@bench.example","priority":"high","tags":["bench","vip"]}',
    math.random(1, 1000000000), math.random(1, customers))
  return wrk.format("POST", "/v1/tickets", nil, body)
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx/3xx: %d\n", summary.errors.status))
end
