-- reserveIDs.lua — claims task ids in one bucket of the id index for a tree, all or none.
-- An id already in the index is taken, whoever holds it (a tree id submitted twice included).
--
-- KEYS[1] <ns>:{idx:<n>}:ids (hash: task id -> tree id)
-- ARGV[1] tree id, ARGV[2..] task ids
-- Returns '' when every id was reserved, else the first id that belongs to another tree.
-- Refuses before writing: BATON conflict when the bucket holds something other than a hash.
-- Ids are read and written 1,000 at a time (any number of ids fits).
local found = redis.call('TYPE', KEYS[1])['ok']
if found ~= 'hash' and found ~= 'none' then
  return redis.error_reply('BATON conflict Task id index ' .. KEYS[1] .. ' holds a ' .. found .. ', not a hash')
end
for first = 2, #ARGV, 1000 do
  local last = math.min(first + 999, #ARGV)
  local values = redis.call('HMGET', KEYS[1], unpack(ARGV, first, last))
  for i, owner in ipairs(values) do
    if owner then return ARGV[first + i - 1] end
  end
end
for first = 2, #ARGV, 500 do
  local pairs_ = {}
  for i = first, math.min(first + 499, #ARGV) do
    pairs_[#pairs_ + 1] = ARGV[i]
    pairs_[#pairs_ + 1] = ARGV[1]
  end
  redis.call('HSET', KEYS[1], unpack(pairs_))
end
return ''
