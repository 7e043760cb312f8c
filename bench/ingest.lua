-- wrk script of the ingest benchmark (bench/ingest.py): replays pre-built, pre-signed requests.
--
-- Arguments after "--": the requests file and the number of wrk threads. The file is a series
-- of records, each a 10-digit byte count followed by that many bytes: one whole HTTP request.
-- Thread i of n sends records i, i + n, i + 2n, ... so no two threads send the same request,
-- and starts over only when its share runs out (the harness sizes the file so it never does
-- on the webhook, where a repeated body would be a duplicate delivery).
--
-- done() prints one line the harness reads: the totals of every thread and the latency
-- percentiles in microseconds.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path, count = args[1], tonumber(args[2])
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  pool = {}
  local position, index = 1, 0
  while position <= #data do
    local length = tonumber(data:sub(position, position + 9))
    if index % count == id then
      pool[#pool + 1] = data:sub(position + 10, position + 9 + length)
    end
    position = position + 10 + length
    index = index + 1
  end
  pool_size = #pool
  sent = 0
  statuses = {}
end

function request()
  sent = sent + 1
  return pool[(sent - 1) % pool_size + 1]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local sent_total, wrapped = 0, 0
  local codes = {}
  for _, thread in ipairs(threads) do
    local thread_sent, thread_pool = thread:get("sent"), thread:get("pool_size")
    sent_total = sent_total + thread_sent
    if thread_sent > thread_pool then
      wrapped = wrapped + thread_sent - thread_pool
    end
    for status, count in pairs(thread:get("statuses")) do
      codes[status] = (codes[status] or 0) + count
    end
  end
  local statuses_text = {}
  for status, count in pairs(codes) do
    table.insert(statuses_text, string.format("%d:%d", status, count))
  end
  local errors = summary.errors
  io.write(string.format(
    "ingest-result requests=%d duration_us=%d sent=%d wrapped=%d p50_us=%d p90_us=%d p99_us=%d"
      .. " max_us=%d connect=%d read=%d write=%d timeout=%d non2xx=%d statuses=%s\n",
    summary.requests, summary.duration, sent_total, wrapped,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    errors.connect, errors.read, errors.write, errors.timeout, errors.status,
    table.concat(statuses_text, ",")
  ))
end
