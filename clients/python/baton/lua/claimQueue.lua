-- claimQueue.lua — an agent takes up to `count` of the best ready tasks of an executor type and
-- holds each with a lease. Leaves the wake-up marker set while work remains, so the next
-- waiting agent wakes too.
--
-- KEYS[1] <ns>:{q:<executor>}:ready   KEYS[2] <ns>:{q:<executor>}:marker   KEYS[3] <ns>:{q:<executor>}:leases
-- ARGV[1] now (epoch ms)   ARGV[2] lease length (ms)   ARGV[3] count
-- Returns the claimed members ('<tree>\t<task>'), best first.
-- Refuses before writing: BATON conflict when ready, marker or leases holds something other
-- than a sorted set; BATON invalid_argument for a malformed ARGV.
for i = 1, 3 do
  local found = redis.call('TYPE', KEYS[i])['ok']
  if found ~= 'zset' and found ~= 'none' then
    return redis.error_reply('BATON conflict Queue key ' .. KEYS[i] .. ' holds a ' .. found .. ', not a zset')
  end
end
local now, lease, count = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not now or not lease or not count or count < 1 or count ~= math.floor(count) then
  return redis.error_reply('BATON invalid_argument Malformed claim arguments')
end
local expiry = now + lease

local popped = redis.call('ZPOPMIN', KEYS[1], count)
local members = {}
local leases = {}
for i = 1, #popped, 2 do
  members[#members + 1] = popped[i]
  leases[#leases + 1] = expiry
  leases[#leases + 1] = popped[i]
  if #leases >= 1000 then
    redis.call('ZADD', KEYS[3], unpack(leases))
    leases = {}
  end
end
if #leases > 0 then redis.call('ZADD', KEYS[3], unpack(leases)) end
if redis.call('ZCARD', KEYS[1]) > 0 then redis.call('ZADD', KEYS[2], 0, '1') end
return members
