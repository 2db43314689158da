-- wrk script: one reading per POST /api/v1/me/readings, a fresh client id
-- each, tokens of several patients rotated per request. See common.lua.
local ingest = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

setup, response, done = ingest.setup, ingest.response, ingest.done

function init(args) ingest.init_thread() end

function request() return ingest.post(1) end
