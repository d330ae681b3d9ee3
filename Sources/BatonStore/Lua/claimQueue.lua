-- claimQueue.lua — an agent takes up to `count` of the best ready tasks of an executor type and
-- holds each with a lease. Leaves the wake-up marker set while work remains, so the next
-- waiting agent wakes too.
--
-- KEYS[1] <ns>:{q:<executor>}:ready   KEYS[2] <ns>:{q:<executor>}:marker   KEYS[3] <ns>:{q:<executor>}:leases
-- ARGV[1] now (epoch ms)   ARGV[2] lease length (ms)   ARGV[3] count
-- Returns the claimed members ('<tree>\t<task>'), best first.
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[3])
local members = {}
local leases = {}
local expiry = tonumber(ARGV[1]) + tonumber(ARGV[2])
for i = 1, #popped, 2 do
  members[#members + 1] = popped[i]
  leases[#leases + 1] = expiry
  leases[#leases + 1] = popped[i]
end
if #leases > 0 then redis.call('ZADD', KEYS[3], unpack(leases)) end
if redis.call('ZCARD', KEYS[1]) > 0 then redis.call('ZADD', KEYS[2], 0, '1') end
return members
