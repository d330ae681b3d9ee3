-- enqueue.lua — on one executor type's queue: ends attempts (drops their leases and cancel
-- requests), then puts ready tasks in the queue and wakes its agents, then (an agent applying
-- its own report) claims up to `c` of the best ready tasks as claimQueue.lua does. One script, so
-- a task handed back and queued again can never be claimed before its old lease is gone: the old
-- attempt's ZREM would otherwise remove the new claim's lease (same member).
-- Score = priority * 2^32 + sequence: strict priority, first ready first taken within one.
-- Replays are harmless: a member already queued keeps its entry and its place (ZADD NX), and a
-- member still leased (claimed, not ended here) is not queued again — a replayed report would
-- otherwise let a second agent claim a task the first is starting.
--
-- KEYS[1] <ns>:{q:<executor>}:ready    KEYS[2] <ns>:{q:<executor>}:seq    KEYS[3] <ns>:{q:<executor>}:marker
-- KEYS[4] <ns>:{q:<executor>}:leases   KEYS[5] <ns>:{q:<executor>}:cancels
-- ARGV[1] d = number of ended attempts, ARGV[2] c = tasks to claim (0: none), ARGV[3] now (epoch
-- ms), ARGV[4] lease length (ms), ARGV[5..d+4] the ended attempts' members ('<tree>\t<task>'),
-- then pairs: priority, member to queue
-- Returns {members queued, claimed member…} (claimed best first, each now leased).
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

local d, c, now, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if not d or d < 0 or not c or c < 0 or c ~= math.floor(c) or not now or not lease
  or (#ARGV - 4 - d) < 0 or (#ARGV - 4 - d) % 2 ~= 0 then
  return redis.error_reply('BATON invalid_argument Malformed enqueue arguments')
end
local n = (#ARGV - 4 - d) / 2
if d > 0 or c > 0 then
  require_type(KEYS[4], 'zset')
  require_type(KEYS[5], 'hash')
end
if n > 0 or c > 0 then
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
for first = 5, d + 4, 1000 do
  local ended = {unpack(ARGV, first, math.min(first + 999, d + 4))}
  redis.call('ZREM', KEYS[4], unpack(ended))
  redis.call('HDEL', KEYS[5], unpack(ended))
end
local out = {0}
if n > 0 then
  local base = redis.call('INCRBY', KEYS[2], n) - n
  local batch = {}
  for i = 1, n do
    local at = d + 3 + 2 * i
    local member = ARGV[at + 1]
    if not redis.call('ZSCORE', KEYS[4], member) then
      batch[#batch + 1] = (tonumber(ARGV[at]) or 2) * 4294967296 + base + i
      batch[#batch + 1] = member
      out[1] = out[1] + 1
    end
    if #batch >= 1000 then
      redis.call('ZADD', KEYS[1], 'NX', unpack(batch))
      batch = {}
    end
  end
  if #batch > 0 then redis.call('ZADD', KEYS[1], 'NX', unpack(batch)) end
end
if c > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[1], c)
  local leases = {}
  for i = 1, #popped, 2 do
    out[#out + 1] = popped[i]
    leases[#leases + 1] = now + lease
    leases[#leases + 1] = popped[i]
    if #leases >= 1000 then
      redis.call('ZADD', KEYS[4], unpack(leases))
      leases = {}
    end
  end
  if #leases > 0 then redis.call('ZADD', KEYS[4], unpack(leases)) end
end
if (n > 0 or c > 0) and redis.call('ZCARD', KEYS[1]) > 0 then redis.call('ZADD', KEYS[3], 0, '1') end
return out
