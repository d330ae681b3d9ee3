-- reserveIDs.lua — claims task ids in one bucket of the id index for a tree, all or none.
-- An id already in the index is taken, whoever holds it (a tree id submitted twice included).
--
-- KEYS[1] <ns>:{idx:<n>}:ids (hash: task id -> tree id)
-- ARGV[1] tree id, ARGV[2..] task ids
-- Returns '' when every id was reserved, else the first id that belongs to another tree.
local values = redis.call('HMGET', KEYS[1], unpack(ARGV, 2))
for i, owner in ipairs(values) do
  if owner then return ARGV[i + 1] end
end
local pairs_ = {}
for i = 2, #ARGV do
  pairs_[#pairs_ + 1] = ARGV[i]
  pairs_[#pairs_ + 1] = ARGV[1]
end
redis.call('HSET', KEYS[1], unpack(pairs_))
return ''
