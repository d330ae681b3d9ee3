-- reapLeases.lua — the lease reaper takes the leases of an executor type that ran out, each for
-- itself: a taken lease is held `hold` ms longer, so that another reaper (any number may run)
-- does not take it too while this one applies its expiry. A reaper that dies meanwhile loses the
-- hold like an agent loses a lease, and the next reaper takes the lease again.
--
-- KEYS[1] <ns>:{q:<executor>}:leases
-- ARGV[1] now (epoch ms)   ARGV[2] at most this many leases   ARGV[3] hold (ms)
-- Returns the taken members ('<tree>\t<task>'), oldest expiry first.
-- Refuses before writing: BATON conflict when leases holds something other than a sorted set;
-- BATON invalid_argument for a malformed ARGV.
local found = redis.call('TYPE', KEYS[1])['ok']
if found ~= 'zset' and found ~= 'none' then
  return redis.error_reply('BATON conflict Queue key ' .. KEYS[1] .. ' holds a ' .. found .. ', not a zset')
end
local now, limit, hold = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not now or not limit or not hold or limit < 1 or limit ~= math.floor(limit) or hold < 1 then
  return redis.error_reply('BATON invalid_argument Malformed reap arguments')
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
local held = {'ZADD', KEYS[1], 'XX'}
for _, member in ipairs(expired) do
  held[#held + 1] = now + hold
  held[#held + 1] = member
end
if #expired > 0 then redis.call(unpack(held)) end
return expired
