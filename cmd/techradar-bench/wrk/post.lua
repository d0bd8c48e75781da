-- POSTs {"name": ...} to the URL, with the names of a workload given after
-- "--": wide (a name out of 100,000,000 per request, none repeated while
-- each thread sends fewer than 1,562,500) or hot50 (50 names in turn).
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  workload = args[1] or "wide"
  sent = 0
end

local headers = { ["Content-Type"] = "application/json" }

function request()
  sent = sent + 1
  local name
  if workload == "hot50" then
    name = string.format("Hot %02d", (sent + id * 7) % 50)
  else
    -- Each thread takes every 64th slot; multiplying by 48271, prime to
    -- 100,000,000, spreads consecutive slots over the whole range. (A range
    -- of 1,000,000 repeated names within a second of wrk against a server
    -- that does nothing.)
    name = string.format("Wide %08d", ((sent * 64 + id) * 48271) % 100000000)
  end
  return wrk.format("POST", nil, headers, '{"name":"' .. name .. '"}')
end
