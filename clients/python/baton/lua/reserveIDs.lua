-- reserveIDs.lua — claims task ids in one bucket of the id index for a tree, all or none.
-- An id already in the index is taken, whoever holds it (a tree id submitted twice included) —
-- except by the same submission: ids this submission's token reserved before (a replay after a
-- crash, or a retry) count as reserved, so the replay goes on instead of being refused.
--
-- KEYS[1] <ns>:{idx:<n>}:ids        (hash: task id -> tree id)
-- KEYS[2] <ns>:{idx:<n>}:reserving  (hash: task id -> token of the submission that reserved it,
--                                    until the tree is stored; cleared by the store afterwards)
-- ARGV[1] tree id, ARGV[2] submission token ('' for none), ARGV[3..] task ids
-- Returns '' when every id was reserved, else the first id that belongs to another tree or
-- another submission.
-- Refuses before writing: BATON conflict when a bucket key holds something other than a hash.
-- Ids are read and written 1,000 at a time (any number of ids fits).
for _, key in ipairs(KEYS) do
  local found = redis.call('TYPE', key)['ok']
  if found ~= 'hash' and found ~= 'none' then
    return redis.error_reply('BATON conflict Task id index ' .. key .. ' holds a ' .. found .. ', not a hash')
  end
end
local tree, token = ARGV[1], ARGV[2]
for first = 3, #ARGV, 1000 do
  local last = math.min(first + 999, #ARGV)
  local owners = redis.call('HMGET', KEYS[1], unpack(ARGV, first, last))
  local tokens = redis.call('HMGET', KEYS[2], unpack(ARGV, first, last))
  for i, owner in ipairs(owners) do
    if owner and not (token ~= '' and owner == tree and tokens[i] == token) then return ARGV[first + i - 1] end
  end
end
for first = 3, #ARGV, 500 do
  local owners, tokens = {}, {}
  for i = first, math.min(first + 499, #ARGV) do
    owners[#owners + 1] = ARGV[i]
    owners[#owners + 1] = tree
    tokens[#tokens + 1] = ARGV[i]
    tokens[#tokens + 1] = token
  end
  redis.call('HSET', KEYS[1], unpack(owners))
  if token ~= '' then redis.call('HSET', KEYS[2], unpack(tokens)) end
end
return ''
