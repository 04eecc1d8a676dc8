-- wrk script of bench/load.py: one endpoint per run, tokens handed out so no two requests share one.
-- Arguments: MODE (constant | template | purl | redeem), TOKENS_FILE, OFFSET, THREADS, then for `template`
-- the API key and the templates as ID=ETAG pairs.
local threads, counter = {}, 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  mode, offset, step = args[1], tonumber(args[3]), tonumber(args[4])
  tokens, templates, sent, statuses = {}, {}, 0, {}
  if args[2] ~= "" then
    for line in io.lines(args[2]) do tokens[#tokens + 1] = line end
  end
  if mode == "template" then
    key = args[5]
    for index = 6, #args do
      local id, etag = args[index]:match("^(%d+)=(.*)$")
      templates[#templates + 1] = {id = id, etag = etag}
    end
  end
end

local function next_token()
  local index = offset + id + sent * step + 1
  if index > #tokens then error("out of tokens: give bench/load.py more --recipients") end
  return tokens[index]
end

function request()
  local made
  if mode == "redeem" then
    made = wrk.format("POST", "/api/v1/redeem/", {["Content-Type"] = "application/json"},
                      '{"token":"' .. next_token() .. '"}')
  elseif mode == "purl" then
    made = wrk.format("GET", "/r/" .. next_token())
  elseif mode == "template" then
    -- Every other read revalidates with its ETag (304), as browsers and CDNs do.
    local template = templates[(id + sent) % #templates + 1]
    local headers = {["Authorization"] = "Bearer " .. key}
    if sent % 2 == 1 then headers["If-None-Match"] = template.etag end
    made = wrk.format("GET", "/api/v1/templates/" .. template.id .. "/", headers)
  else
    made = wrk.format("GET", "/bench/constant/")
  end
  sent = sent + 1
  return made
end

function response(status, headers, body)
  local name = "s" .. status
  statuses[name] = (statuses[name] or 0) + 1
  if status >= 400 and not failure then
    failure = status .. " " .. body:sub(1, 300):gsub('[%c"\\]', " ")
  end
end

function done(summary, latency, requests)
  local merged, most_sent, failure = {}, 0, ""
  for _, thread in ipairs(threads) do
    most_sent = math.max(most_sent, thread:get("sent"))
    failure = thread:get("failure") or failure
    for name, count in pairs(thread:get("statuses")) do merged[name] = (merged[name] or 0) + count end
  end
  local parts = {}
  for name, count in pairs(merged) do parts[#parts + 1] = string.format('"%s": %d', name:sub(2), count) end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, "mean_us": %.1f, ' ..
    '"most_sent_by_a_thread": %d, "socket_errors": %d, "statuses": {%s}, "first_failure": "%s"}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.mean, most_sent, errors.connect + errors.read + errors.write + errors.timeout, table.concat(parts, ", "),
    failure))
end
