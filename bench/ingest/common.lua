-- Shared by single.lua, batch.lua and get.lua (loaded with dofile from the
-- script's own folder): response counting per wrk thread, and one JSON result
-- line from done() that bench/ingest/run parses.
--
-- Environment (set by bench/ingest/run):
--   INGEST_TOKENS   comma-separated bearer tokens of patient logins
--   INGEST_SESSION  8 hex digits, distinct per benchmark session
--   INGEST_RUN      run number within the session (0..65535)
--   INGEST_BASE_MS  the session's start, Unix ms (taken_at counts down from it)
--   INGEST_BATCH    readings per POST in batch.lua (default 100)
--   INGEST_ORDER    "late" (default: taken_at counts down, every reading older
--                   than the patient's newest, as an offline batch arrives) or
--                   "in_order" (taken_at counts up, 8 ms a reading and thread,
--                   each run in its own half hour after the previous run's,
--                   starting 12 h before the session: as a phone sends live)

local M = {}

local threads = {}

-- Called by wrk in the main Lua state, once per thread before it starts.
function M.setup(thread)
  thread:set("tid", #threads)
  thread:set("base_ms", tonumber(os.getenv("INGEST_BASE_MS") or "") or os.time() * 1000)
  table.insert(threads, thread)
end

-- Per-thread counters, read back by done() with thread:get.
http_200, http_other, created, duplicate, rejected = 0, 0, 0, 0, 0
statuses = {}

local function count(s, needle)
  local n, i = 0, 1
  while true do
    local j = s:find(needle, i, true)
    if not j then return n end
    n, i = n + 1, j + #needle
  end
end

function M.response(status, headers, body)
  if status == 200 then
    http_200 = http_200 + 1
  else
    http_other = http_other + 1
    local k = "s" .. status
    statuses[k] = (statuses[k] or 0) + 1
  end
  if body and #body > 0 then
    created = created + count(body, '"status":"created"')
    duplicate = duplicate + count(body, '"status":"duplicate"')
    rejected = rejected + count(body, '"status":"rejected"')
  end
end

function M.done(summary, latency, requests)
  local totals = { http_200 = 0, http_other = 0, created = 0, duplicate = 0, rejected = 0 }
  local other = {}
  for _, t in ipairs(threads) do
    for k, _ in pairs(totals) do totals[k] = totals[k] + (t:get(k) or 0) end
    local s = t:get("statuses") or {}
    for k, v in pairs(s) do other[k] = (other[k] or 0) + v end
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  local other_json = {}
  for k, v in pairs(other) do table.insert(other_json, string.format('"%s":%d', k:sub(2), v)) end
  io.write(string.format(
    'INGEST_RESULT {"requests":%d,"duration_s":%.3f,"requests_per_s":%.1f,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"mean_ms":%.3f,"max_ms":%.3f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"http_200":%d,"http_other":%d,"other_statuses":{%s},' ..
    '"created":%d,"duplicate":%d,"rejected":%d,"created_per_s":%.1f,"threads":%d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.mean / 1e3, latency.max / 1e3,
    e.connect, e.read, e.write, e.status, e.timeout,
    totals.http_200, totals.http_other, table.concat(other_json, ","),
    totals.created, totals.duplicate, totals.rejected, totals.created / secs, #threads))
end

-- Per-thread state for the POST scripts, set up in init().
local tokens, session, run, counter, requests_sent, in_order = {}, "00000000", 0, 0, 0, false

function M.init_thread()
  for t in string.gmatch(os.getenv("INGEST_TOKENS") or "", "[^,]+") do table.insert(tokens, t) end
  if #tokens == 0 then error("INGEST_TOKENS is empty: bench/ingest/run logs in and sets it") end
  session = (os.getenv("INGEST_SESSION") or "00000000"):sub(1, 8)
  run = tonumber(os.getenv("INGEST_RUN") or "0") % 65536
  in_order = os.getenv("INGEST_ORDER") == "in_order"
  -- Values differ per thread and per run; ids and times are unique by construction.
  math.randomseed(os.time() * 1000 + tid * 7919 + run * 104729)
end

-- The next reading as a JSON object. The client id is session-run-thread-counter,
-- so no two readings of a session share one; taken_at steps 1 ms per reading
-- and thread (64 slots), backwards from the session start, 10^9 ms per run, so
-- no two share an instant either (which the store would call a content duplicate).
function M.next_reading()
  counter = counter + 1
  local client_id = string.format("%s-%04x-4%03x-8000-%012x", session, run, tid % 4096, counter)
  local t_ms = base_ms - run * 1e9 - counter * 64 - (tid % 64)
  if in_order then t_ms = base_ms - 12 * 3600e3 + run * 1800e3 + counter * 8 + (tid % 8) end
  local sec = math.floor(t_ms / 1000)
  local taken_at = os.date("!%Y-%m-%dT%H:%M:%S", sec) .. string.format(".%03dZ", t_ms - sec * 1000)
  local systolic = math.random(100, 179)
  local diastolic = math.random(60, math.min(99, systolic - 20))
  return string.format(
    '{"client_id":"%s","kind":"blood_pressure","taken_at":"%s","systolic":%d,"diastolic":%d,' ..
    '"pulse":%d,"unit":"mmHg","source":"wrk"}',
    client_id, taken_at, systolic, diastolic, math.random(55, 94))
end

-- A POST of `n` readings, with the next token of this thread's rotation.
function M.post(n)
  requests_sent = requests_sent + 1
  local token = tokens[(requests_sent + tid) % #tokens + 1]
  local items = {}
  for i = 1, n do items[i] = M.next_reading() end
  return wrk.format("POST", "/api/v1/me/readings", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, '{"readings":[' .. table.concat(items, ",") .. "]}")
end

return M
