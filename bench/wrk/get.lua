-- GET one ticket by a random id in [1, TICKETS]; PATH_PREFIX picks the API or the raw endpoint.
local tickets = tonumber(os.getenv("TICKETS") or "1000000")
local prefix = os.getenv("PATH_PREFIX") or "/v1/tickets/"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "")

request = function()
  return wrk.format("GET", prefix .. math.random(1, tickets))
end

done = function(summary, latency, requests)
  io.write(string.format("non-2xx/3xx: %d\n", summary.errors.status))
end
