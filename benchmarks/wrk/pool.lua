-- wrk: a new token on every request, from a pool of pre-minted ones (round robin).
--
-- WRK_POOL_FILE   one entry per line
-- WRK_POOL_HEADER unset: each entry is a request path (a page token in ?jwt=, /hello);
--                 set: each entry is that header's value ("JWT <context token>", /api/me)
--
-- Minting in Lua would need HMAC-SHA256 and base64url in wrk's LuaJIT, none of which
-- it ships: the tokens are minted by django_atlassian_connect.testing before the run,
-- more of them than the server's verified-token memo holds. Every request is formatted
-- once, in init(), so wrk spends no more per request than with a fixed one.

local header = os.getenv("WRK_POOL_HEADER")
local pool = {}
local next_request = 0

init = function(args)
  for line in io.lines(os.getenv("WRK_POOL_FILE")) do
    if header then
      wrk.headers[header] = line
      pool[#pool + 1] = wrk.format(nil, nil, wrk.headers)
    else
      pool[#pool + 1] = wrk.format(nil, line)
    end
  end
  if #pool == 0 then
    error("WRK_POOL_FILE is empty")
  end
end

request = function()
  next_request = next_request % #pool + 1
  return pool[next_request]
end
