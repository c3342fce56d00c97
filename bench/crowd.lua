-- wrk script for bench/pages.py: each request carries the next cookie of the file named by
-- WRK_COOKIES (one per line), each thread starting at its own place in the list.
local cookies = {}
for line in io.lines(os.getenv("WRK_COOKIES")) do cookies[#cookies + 1] = line end

local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

local n
function init(args)
  n = (id or 0) * math.floor(#cookies / 2)  -- wrk -t2: the halves never meet in a run
end

function request()
  n = n + 1
  return wrk.format(nil, nil, { ["Cookie"] = cookies[(n % #cookies) + 1] })
end
