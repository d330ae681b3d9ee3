-- releaseIDs.lua — gives back ids reserved by a tree whose submission was refused.
--
-- KEYS[1] <ns>:{idx:<n>}:ids        (hash: task id -> tree id)
-- KEYS[2] <ns>:{idx:<n>}:reserving  (hash: task id -> token of the submission that reserved it)
-- ARGV[1] tree id, ARGV[2] submission token ('' for none), ARGV[3..] task ids. Only ids still held
-- by that tree — and, with a token, reserved by that token — are removed, with their token.
-- Returns the number removed.
-- Refuses before writing: BATON conflict when a bucket key holds something other than a hash.
for _, key in ipairs(KEYS) do
  local found = redis.call('TYPE', key)['ok']
  if found ~= 'hash' and found ~= 'none' then
    return redis.error_reply('BATON conflict Task id index ' .. key .. ' holds a ' .. found .. ', not a hash')
  end
end
local tree, token = ARGV[1], ARGV[2]
local removed = 0
for first = 3, #ARGV, 1000 do
  local last = math.min(first + 999, #ARGV)
  local owners = redis.call('HMGET', KEYS[1], unpack(ARGV, first, last))
  local tokens = redis.call('HMGET', KEYS[2], unpack(ARGV, first, last))
  for i, owner in ipairs(owners) do
    if owner == tree and (token == '' or tokens[i] == token) then
      redis.call('HDEL', KEYS[1], ARGV[first + i - 1])
      redis.call('HDEL', KEYS[2], ARGV[first + i - 1])
      removed = removed + 1
    end
  end
end
return removed
