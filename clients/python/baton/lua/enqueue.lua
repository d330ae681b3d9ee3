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
-- Refuses before writing: BATON conflict when a key it will write holds another type (ready,
-- marker, leases: sorted sets; cancels: a hash; seq: a string holding an integer of at most 15
-- digits, so INCRBY neither fails nor overflows); BATON invalid_argument for a malformed ARGV.
local function require_type(key, kind)
  local found = redis.call('TYPE', key)['ok']
  if found ~= kind and found ~= 'none' then
    error({err = 'BATON conflict Queue key ' .. key .. ' holds a ' .. found .. ', not a ' .. kind})
  end
  return found ~= 'none'
end

local d = tonumber(ARGV[1])
if not d or d < 0 or (#ARGV - 1 - d) < 0 or (#ARGV - 1 - d) % 2 ~= 0 then
  return redis.error_reply('BATON invalid_argument Malformed enqueue arguments')
end
local n = (#ARGV - 1 - d) / 2
if d > 0 then
  require_type(KEYS[4], 'zset')
  require_type(KEYS[5], 'hash')
end
if n > 0 then
  require_type(KEYS[1], 'zset')
  require_type(KEYS[3], 'zset')
  if require_type(KEYS[2], 'string') then
    local value = redis.call('GET', KEYS[2])
    if #value > 15 or not (value == '0' or string.match(value, '^-?[1-9]%d*$')) then
      return redis.error_reply('BATON conflict Queue key ' .. KEYS[2] .. ' does not hold a sequence number')
    end
  end
end

-- Everything checked.
for first = 2, d + 1, 1000 do
  local ended = {unpack(ARGV, first, math.min(first + 999, d + 1))}
  redis.call('ZREM', KEYS[4], unpack(ended))
  redis.call('HDEL', KEYS[5], unpack(ended))
end
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
