-- enqueue.lua — puts ready tasks in an executor type's queue and wakes its agents.
-- Score = priority * 2^32 + sequence: strict priority, first ready first taken within one.
-- A member already queued keeps its entry and its place (ZADD NX), so replays are harmless.
--
-- KEYS[1] <ns>:{q:<executor>}:ready    KEYS[2] <ns>:{q:<executor>}:seq    KEYS[3] <ns>:{q:<executor>}:marker
-- ARGV pairs: priority, member ('<tree>\t<task>')
-- Returns the number of members queued.
local n = #ARGV / 2
if n == 0 then return 0 end
local base = redis.call('INCRBY', KEYS[2], n) - n
local batch = {}
for i = 1, n do
  batch[#batch + 1] = (tonumber(ARGV[2 * i - 1]) or 2) * 4294967296 + base + i
  batch[#batch + 1] = ARGV[2 * i]
  if #batch >= 1000 then
    redis.call('ZADD', KEYS[1], 'NX', unpack(batch))
    batch = {}
  end
end
if #batch > 0 then redis.call('ZADD', KEYS[1], 'NX', unpack(batch)) end
redis.call('ZADD', KEYS[3], 0, '1')
return n
