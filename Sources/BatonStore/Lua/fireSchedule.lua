-- fireSchedule.lua — records that a schedule fired for one due time, exactly once however many
-- schedulers fire it: only the call that finds `next_at` still at that due time moves it on.
-- The copy it names was made with a token derived from the schedule and the due time, so every
-- scheduler that fired the same due time made (or found) the same tree.
--
-- KEYS[1] <ns>:{s:<schedule>}:schedule (hash)   KEYS[2] <ns>:{s:<schedule>}:runs (sorted set)
-- ARGV[1] due (epoch ms)   ARGV[2] the next due time   ARGV[3] the run's tree id ('' skipped:
-- the previous run had not finished and the overlap policy is skip)   ARGV[4] now (epoch ms)
-- Returns 1 when this call recorded the run, 0 when another one did (or the schedule is gone).
-- Refuses before writing: BATON conflict when a key holds another type; BATON invalid_argument
-- for a malformed ARGV.
for i, kind in ipairs({'hash', 'zset'}) do
  local found = redis.call('TYPE', KEYS[i])['ok']
  if found ~= kind and found ~= 'none' then
    return redis.error_reply('BATON conflict Schedule key ' .. KEYS[i] .. ' holds a ' .. found .. ', not a ' .. kind)
  end
end
if not tonumber(ARGV[1]) or not tonumber(ARGV[2]) or ARGV[3] == nil or not tonumber(ARGV[4]) then
  return redis.error_reply('BATON invalid_argument Malformed schedule firing arguments')
end
if redis.call('HGET', KEYS[1], 'next_at') ~= ARGV[1] then return 0 end

-- Everything checked.
redis.call('HSET', KEYS[1], 'next_at', ARGV[2], 'last_at', ARGV[1], 'updated_at', ARGV[4])
if ARGV[3] == '' then
  redis.call('HINCRBY', KEYS[1], 'skipped', 1)
else
  redis.call('HSET', KEYS[1], 'last_tree', ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'runs', 1)
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
  -- the newest 1,000 runs are listed
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -1001)
end
return 1
