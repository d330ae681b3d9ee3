-- watchDependency.lua — registers a task of another tree as a dependent of a task of this tree,
-- so its completion (or failure) is passed on, and tells where the dependency stands now.
--
-- KEYS[1] <ns>:{t:<tree>}:tree (the dependency's tree; task keys derive from it)
-- ARGV[1] dependency id   ARGV[2] dependent's tree id   ARGV[3] dependent's id   ARGV[4] '1' required / '0'
-- Returns {} when the dependency does not exist, {'pending'} while it can still run,
-- {state, result JSON, cause} once it is completed, failed, cancelled or blocked.
-- A link node answers its original's result (link_result); an archived tree's tasks are
-- completed for good, so nothing is written to them.
-- Refuses before writing: BATON conflict when the dependency's key exists and is not a hash.
-- Its one write (HSET xdependents) follows the read of that hash.
local key = string.sub(KEYS[1], 1, -5) .. 'task:' .. ARGV[1]
local f = redis.pcall('HMGET', key, 'status', 'result', 'blocked_by', 'xdependents', 'link_result', 'origin_type')
if f['err'] then
  return redis.error_reply("BATON conflict Task '" .. ARGV[1] .. "': its key is not a hash")
end
if not f[1] then return {} end
if f[6] == 'archive' then return {f[1], (f[1] == 'completed' and f[2]) or 'null', ARGV[1]} end
local line = (ARGV[4] == '1' and 'R' or 'O') .. ARGV[2] .. '\t' .. ARGV[3]
local known = f[4] or ''
if not string.find('\n' .. known .. '\n', '\n' .. line .. '\n', 1, true) then
  if known == '' then known = line else known = known .. '\n' .. line end
  redis.call('HSET', key, 'xdependents', known)
end
local status = f[1]
if status == 'completed' or status == 'failed' or status == 'cancelled' then
  return {status, (status == 'completed' and (f[2] or f[5])) or 'null', ARGV[1]}
end
if f[3] then return {'blocked', 'null', f[3]} end
return {'pending'}
