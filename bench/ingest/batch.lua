-- wrk script: INGEST_BATCH (default 100) readings per POST /api/v1/me/readings,
-- all of one patient (the token's), each with a fresh client id. See common.lua.
local ingest = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

setup, response, done = ingest.setup, ingest.response, ingest.done

local batch = tonumber(os.getenv("INGEST_BATCH") or "100")

function init(args) ingest.init_thread() end

function request() return ingest.post(batch) end
