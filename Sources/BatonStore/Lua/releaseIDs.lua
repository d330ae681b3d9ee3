-- releaseIDs.lua — gives back ids reserved by a tree whose submission was refused.
--
-- KEYS[1] <ns>:{idx:<n>}:ids (hash: task id -> tree id)
-- ARGV[1] tree id, ARGV[2..] task ids (only those still held by that tree are removed)
-- Returns the number removed.
-- Refuses before writing: BATON conflict when the bucket holds something other than a hash.
local found = redis.call('TYPE', KEYS[1])['ok']
if found ~= 'hash' and found ~= 'none' then
  return redis.error_reply('BATON conflict Task id index ' .. KEYS[1] .. ' holds a ' .. found .. ', not a hash')
end
local removed = 0
for first = 2, #ARGV, 1000 do
  local last = math.min(first + 999, #ARGV)
  local values = redis.call('HMGET', KEYS[1], unpack(ARGV, first, last))
  for i, owner in ipairs(values) do
    if owner == ARGV[1] then
      redis.call('HDEL', KEYS[1], ARGV[first + i - 1])
      removed = removed + 1
    end
  end
end
return removed
