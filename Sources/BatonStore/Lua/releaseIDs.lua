-- releaseIDs.lua — gives back ids reserved by a tree whose submission was refused.
--
-- KEYS[1] <ns>:{idx:<n>}:ids
-- ARGV[1] tree id, ARGV[2..] task ids (only those still held by that tree are removed)
-- Returns the number removed.
local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 2))
local removed = 0
for i, owner in ipairs(values) do
  if owner == ARGV[1] then
    redis.call('HDEL', KEYS[1], ARGV[i + 1])
    removed = removed + 1
  end
end
return removed
