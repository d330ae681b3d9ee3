-- promoteDelayed.lua — moves retries whose backoff is over from the delayed set to the ready queue.
--
-- KEYS[1] <ns>:{q:<executor>}:delayed   KEYS[2] ready   KEYS[3] seq   KEYS[4] marker
-- ARGV[1] now (epoch ms)   ARGV[2] most to move
-- Delayed members are '<priority>\t<tree>\t<task>'. Returns the number moved.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due == 0 then return 0 end
local base = redis.call('INCRBY', KEYS[3], #due) - #due
for i, entry in ipairs(due) do
  local tab = string.find(entry, '\t', 1, true)
  local priority = tonumber(string.sub(entry, 1, tab - 1)) or 2
  redis.call('ZADD', KEYS[2], priority * 4294967296 + base + i, string.sub(entry, tab + 1))
  redis.call('ZREM', KEYS[1], entry)
end
redis.call('ZADD', KEYS[4], 0, '1')
return #due
