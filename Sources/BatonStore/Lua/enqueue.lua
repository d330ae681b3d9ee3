-- enqueue.lua — on one executor type's queue: ends attempts (drops their leases and cancel
-- requests), then puts ready tasks in the queue and wakes its agents. One script, so a task
-- handed back and queued again can never be claimed before its old lease is gone: the old
-- attempt's ZREM would otherwise remove the new claim's lease (same member).
-- Score = priority * 2^32 + sequence: strict priority, first ready first taken within one.
-- A member already queued keeps its entry and its place (ZADD NX), so replays are harmless.
--
-- KEYS[1] <ns>:{q:<executor>}:ready    KEYS[2] <ns>:{q:<executor>}:seq    KEYS[3] <ns>:{q:<executor>}:marker
-- KEYS[4] <ns>:{q:<executor>}:leases   KEYS[5] <ns>:{q:<executor>}:cancels
-- ARGV[1] d = number of ended attempts, ARGV[2..d+1] their members ('<tree>\t<task>'),
-- then pairs: priority, member to queue
-- Returns the number of members queued.
local d = tonumber(ARGV[1])
if d > 0 then
  local ended = {unpack(ARGV, 2, d + 1)}
  redis.call('ZREM', KEYS[4], unpack(ended))
  redis.call('HDEL', KEYS[5], unpack(ended))
end
local n = (#ARGV - 1 - d) / 2
if n == 0 then return 0 end
local base = redis.call('INCRBY', KEYS[2], n) - n
local batch = {}
for i = 1, n do
  local at = d + 2 * i
  batch[#batch + 1] = (tonumber(ARGV[at]) or 2) * 4294967296 + base + i
  batch[#batch + 1] = ARGV[at + 1]
  if #batch >= 1000 then
    redis.call('ZADD', KEYS[1], 'NX', unpack(batch))
    batch = {}
  end
end
if #batch > 0 then redis.call('ZADD', KEYS[1], 'NX', unpack(batch)) end
redis.call('ZADD', KEYS[3], 0, '1')
return n
