-- promoteDelayed.lua — moves retries whose backoff is over from the delayed set to the ready queue.
--
-- KEYS[1] <ns>:{q:<executor>}:delayed   KEYS[2] ready   KEYS[3] seq   KEYS[4] marker
-- ARGV[1] now (epoch ms)   ARGV[2] most to move
-- Delayed members are '<priority>\t<tree>\t<task>'. Returns the number moved.
-- Refuses before writing: BATON conflict when delayed, ready or marker holds something other than
-- a sorted set, seq does not hold an integer of at most 15 digits, or a due member has no tab;
-- BATON invalid_argument for a malformed ARGV.
for _, i in ipairs({1, 2, 4}) do
  local found = redis.call('TYPE', KEYS[i])['ok']
  if found ~= 'zset' and found ~= 'none' then
    return redis.error_reply('BATON conflict Queue key ' .. KEYS[i] .. ' holds a ' .. found .. ', not a zset')
  end
end
local found = redis.call('TYPE', KEYS[3])['ok']
if found == 'string' then
  local value = redis.call('GET', KEYS[3])
  if #value > 15 or not (value == '0' or string.match(value, '^-?[1-9]%d*$')) then
    return redis.error_reply('BATON conflict Queue key ' .. KEYS[3] .. ' does not hold a sequence number')
  end
elseif found ~= 'none' then
  return redis.error_reply('BATON conflict Queue key ' .. KEYS[3] .. ' holds a ' .. found .. ', not a string')
end
local limit = tonumber(ARGV[2])
if not tonumber(ARGV[1]) or not limit or limit < 0 then
  return redis.error_reply('BATON invalid_argument Malformed promote arguments')
end

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, limit)
if #due == 0 then return 0 end
local tabs = {}
for i, entry in ipairs(due) do
  tabs[i] = string.find(entry, '\t', 1, true)
  if not tabs[i] then
    return redis.error_reply('BATON conflict Delayed member ' .. entry .. ' of ' .. KEYS[1] .. ' is not <priority>\\t<member>')
  end
end

-- Everything checked.
local base = redis.call('INCRBY', KEYS[3], #due) - #due
for i, entry in ipairs(due) do
  local tab = tabs[i]
  local priority = tonumber(string.sub(entry, 1, tab - 1)) or 2
  redis.call('ZADD', KEYS[2], priority * 4294967296 + base + i, string.sub(entry, tab + 1))
  redis.call('ZREM', KEYS[1], entry)
end
redis.call('ZADD', KEYS[4], 0, '1')
return #due
