-- promoteDelayed.lua — moves retries whose backoff is over from the delayed set to the ready
-- queue (with fair tags and concurrency keys, as enqueue.lua queues).
--
-- KEYS[1] <ns>:{q:<executor>}:delayed   KEYS[2] ready   KEYS[3] seq   KEYS[4] marker (the other
-- keys are derived from KEYS[1], queue.lua)
-- ARGV[1] now (epoch ms)   ARGV[2] most to move
-- Delayed members are '<priority>\t<user>\t<key>\t<tree>\t<task>' (or, written before
-- admission, '<priority>\t<tree>\t<task>'). Returns the number moved.
-- Refuses before writing: BATON conflict when a key it writes holds another type, or a due
-- member is neither form; BATON invalid_argument for a malformed ARGV.
queue_check({'delayed'})
local limit = tonumber(ARGV[2])
if not tonumber(ARGV[1]) or not limit or limit < 0 then
  return redis.error_reply('BATON invalid_argument Malformed promote arguments')
end

local due = redis.call('ZRANGEBYSCORE', Q.delayed, '-inf', ARGV[1], 'LIMIT', 0, limit)
if #due == 0 then return 0 end
local items = {}
for i, entry in ipairs(due) do
  local fields = split_tabs(entry)
  if #fields == 5 then
    items[i] = {fields[1], fields[2], fields[3], fields[4] .. '\t' .. fields[5]}
  elseif #fields == 3 then
    items[i] = {fields[1], '', '', fields[2] .. '\t' .. fields[3]}
  else
    return redis.error_reply('BATON conflict Delayed member ' .. entry .. ' of ' .. Q.delayed
      .. ' is not <priority>\\t<user>\\t<key>\\t<member>')
  end
end

local keyed = false
for _, item in ipairs(items) do if item[3] ~= '' then keyed = true; break end end
local adm = queue_check_admitting({}, keyed)

-- Everything checked.
for first = 1, #items, 1000 do queue_ready(adm, {unpack(items, first, math.min(first + 999, #items))}) end
for first = 1, #due, 1000 do redis.call('ZREM', Q.delayed, unpack(due, first, math.min(first + 999, #due))) end
queue_mark(adm)
return #due
