-- admitQueue.lua — publishes an executor type's limits and the users' fairness weights to one
-- of its queue shards (the schedulers do it from the configuration when they start and every
-- few seconds). Held tasks of keys that have room under the new limit go back to ready (at most
-- 1,000 per call; the next call goes on), and agents are woken when work may be taken.
--
-- KEYS[1] <ns>:{q:<executor>}:admission (the shard's other keys are derived from it, queue.lua)
-- ARGV[1] max_running ('' for none)   ARGV[2] max_running_per_key ('' for none)
-- ARGV[3] rate_ms, ARGV[4] rate_burst, ARGV[5] key_rate_ms, ARGV[6] key_rate_burst ('' for none)
-- ARGV[7..] pairs: user, weight (every weight: users left out get the default 1)
-- Returns the number of held tasks moved back to ready.
-- Refuses before writing: BATON conflict when a key it writes holds another type;
-- BATON invalid_argument for a malformed ARGV.
local function limit(text, least)
  if text == '' then return true, nil end
  local n = tonumber(text)
  if not n or n ~= math.floor(n) or n < least then return false end
  return true, n
end
local function interval(text)
  if text == '' then return true, nil end
  local n = tonumber(text)
  if not n or n <= 0 then return false end
  return true, n
end
local ok1, max_running = limit(ARGV[1] or '', 0)
local ok2, per_key = limit(ARGV[2] or '', 1)
local ok3, rate_ms = interval(ARGV[3] or '')
local ok4, rate_burst = limit(ARGV[4] or '', 1)
local ok5, key_rate_ms = interval(ARGV[5] or '')
local ok6, key_rate_burst = limit(ARGV[6] or '', 1)
if not (ok1 and ok2 and ok3 and ok4 and ok5 and ok6) or #ARGV < 6 or #ARGV % 2 ~= 0 then
  return redis.error_reply('BATON invalid_argument Malformed admission arguments')
end
for i = 7, #ARGV, 2 do
  local w = tonumber(ARGV[i + 1])
  if ARGV[i] == '' or not w or w <= 0 then
    return redis.error_reply('BATON invalid_argument Malformed fairness weight for user ' .. ARGV[i])
  end
end
queue_check({'admission', 'ready', 'marker', 'leases', 'keyuse', 'heldkeys', 'keydue'})
local held = redis.call('SMEMBERS', Q.heldkeys)
for _, key in ipairs(held) do queue_require(held_key(key), 'zset') end

-- Everything checked.
local stale = {}
for _, field in ipairs(redis.call('HKEYS', Q.admission)) do
  if string.sub(field, 1, 2) == 'w:' then stale[field] = true end
end
local fields = {}
for i = 7, #ARGV, 2 do
  stale['w:' .. ARGV[i]] = nil
  fields[#fields + 1] = 'w:' .. ARGV[i]; fields[#fields + 1] = ARGV[i + 1]
end
local gone = {}
for field in pairs(stale) do gone[#gone + 1] = field end
if max_running then fields[#fields + 1] = 'max_running'; fields[#fields + 1] = max_running else gone[#gone + 1] = 'max_running' end
if per_key then fields[#fields + 1] = 'max_running_per_key'; fields[#fields + 1] = per_key else gone[#gone + 1] = 'max_running_per_key' end
for _, setting in ipairs({{'rate_ms', rate_ms}, {'rate_burst', rate_burst}, {'key_rate_ms', key_rate_ms}, {'key_rate_burst', key_rate_burst}}) do
  if setting[2] then fields[#fields + 1] = setting[1]; fields[#fields + 1] = setting[2] else gone[#gone + 1] = setting[1] end
end
if not rate_ms then gone[#gone + 1] = 'tat' end
if not key_rate_ms then redis.call('DEL', Q.keydue, Q.keytat) end
if #gone > 0 then redis.call('HDEL', Q.admission, unpack(gone)) end
if #fields > 0 then redis.call('HSET', Q.admission, unpack(fields)) end

local moved = 0
for _, key in ipairs(held) do
  if moved >= 1000 then break end
  local room = 1000 - moved
  if per_key then room = math.min(room, per_key - (tonumber(redis.call('HGET', Q.keyuse, key)) or 0)) end
  -- a key held by its rate comes back when due (keydue), not here
  if key_rate_ms and redis.call('ZSCORE', Q.keydue, key) then room = 0 end
  for _ = 1, room do
    if redis.call('EXISTS', held_key(key)) == 0 then break end
    unhold(key)
    moved = moved + 1
  end
  if redis.call('EXISTS', held_key(key)) == 0 then redis.call('SREM', Q.heldkeys, key) end
end
queue_mark(admission())
return moved
