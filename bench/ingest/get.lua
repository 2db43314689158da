-- wrk script for the HTTP ceiling: wrk's default GET of the URL, with the
-- same response counting and result line as the POST scripts, so wrk does
-- the same per-response Lua work on both sides of the ratio. See common.lua.
local ingest = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

setup, response, done = ingest.setup, ingest.response, ingest.done
