-- addTask.lua — adds one new task to an existing tree, under an existing parent (POST /v1/tasks
-- with parent_id). The task id was reserved in the id index by the caller.
--
-- KEYS[1..3] tree, tasks, events (see include.lua)
-- ARGV[1..4] now, events bound, channel, tree id (see include.lua)
-- ARGV[5] task id                    ARGV[6] parent id (a task of this tree)
-- ARGV[7] number of dependencies in OTHER trees (each counts as unresolved until
--         resolveDependency.lua settles it, as for submitTree)
-- ARGV[8] m = number of dependencies in THIS tree, then m pairs: dependency id, '1' required / '0'
-- then k = field count, then k field/value pairs (the task hash written by the Swift store)
--
-- Every dependency in this tree gets the new task appended to its `dependents`; the new task's
-- `waiting` counts the dependencies not yet resolved. A required dependency that already failed,
-- was cancelled or is blocked blocks the new task at once. The parent gets has_children=1. A
-- finished tree is reopened (status in_progress) and finishes again when the new task settles.
-- A started tree releases the task when nothing is left to wait for.
--
-- Returns the tree outputs {released, delayed, leases, notify, finished}.
-- Refuses before writing anything:
--   BATON not_found         no tree record, or the parent's key is missing
--   BATON immutable         archived tree
--   BATON already_exists    the new task's key exists, of any type
--   BATON validation_failed an in-tree dependency's key is missing
--   BATON conflict          a key of the tree has the wrong type (tree_context), or the parent's
--                           or an in-tree dependency's key is not a hash
--   BATON invalid_argument  malformed ARGV
-- Emits task_created, then task_blocked when blocked (and tree_finished if that settles the tree).
local ctx = tree_context()
local id, parent = ARGV[5], ARGV[6]
if not ctx.exists then return baton_fail('not_found', 'Task ' .. parent .. ' not found') end
if ctx.archived then
  return baton_fail('immutable', 'Archived task ' .. parent .. ' is immutable; copy it before editing')
end
local parent_key = task_key(ctx, parent)
if not require_task(ctx, parent) then return baton_fail('not_found', 'Task ' .. parent .. ' not found') end
local key = task_key(ctx, id)
if redis.call('EXISTS', key) == 1 then
  return baton_fail('already_exists', "Task id '" .. id .. "' already exists")
end

local waiting = tonumber(ARGV[7])
local m = tonumber(ARGV[8])
if not waiting or not m then return baton_fail('invalid_argument', 'The dependency counts of the task are malformed') end
local i = 9
local deps = {}
for _ = 1, m do
  deps[#deps + 1] = {ARGV[i], ARGV[i + 1] == '1'}
  i = i + 2
end
for _, d in ipairs(deps) do
  if not require_task(ctx, d[1]) then
    return baton_fail('validation_failed', "Dependency '" .. d[1] .. "' of task '" .. id .. "' is not an existing task")
  end
end

local k = tonumber(ARGV[i])
if not k or k < 1 or i + 2 * k > #ARGV then return baton_fail('invalid_argument', 'The fields of the task are malformed') end
-- Everything checked: the new key is new, the parent and the dependencies are hashes.
local hset = {'HSET', key}
for j = i + 1, i + 2 * k do hset[#hset + 1] = ARGV[j] end
redis.call(unpack(hset))

-- Edges and the state of each dependency now.
local blocked = nil
for _, d in ipairs(deps) do
  local dep_key = task_key(ctx, d[1])
  local f = redis.call('HMGET', dep_key, 'status', 'blocked_by', 'dependents')
  local line = (d[2] and 'R' or 'O') .. id
  if f[3] and f[3] ~= '' then line = f[3] .. '\n' .. line end
  redis.call('HSET', dep_key, 'dependents', line)
  local status = f[1]
  if status == 'completed' then
    -- resolved
  elseif status == 'failed' or status == 'cancelled' then
    if d[2] and not blocked then blocked = d[1] end
  elseif status == 'pending' and f[2] then
    -- a blocked dependency never runs: an optional edge is resolved, a required one blocks
    if d[2] and not blocked then blocked = f[2] end
  else
    waiting = waiting + 1
  end
end

local last = redis.call('ZRANGE', ctx.tasks_key, -1, -1, 'WITHSCORES')
local score = 1
if last[2] then score = tonumber(last[2]) + 1 end
redis.call('ZADD', ctx.tasks_key, score, id)
redis.call('HSET', key, 'waiting', tostring(waiting), 'queued', '0')
redis.call('HSET', parent_key, 'has_children', '1')

if ctx.status == 'completed' or ctx.status == 'failed' or ctx.status == 'cancelled' then
  redis.call('HSET', ctx.tree_key, 'status', 'in_progress', 'updated_at', ctx.now)
  redis.call('HDEL', ctx.tree_key, 'finished_at', 'expires_at')
  ctx.status = 'in_progress'
end
bump(ctx, 'n_total', 1)
bump(ctx, 'n_pending', 1)
emit(ctx, 'task_created', id, 'pending')
if blocked then
  redis.call('HSET', key, 'blocked_by', blocked)
  bump(ctx, 'n_blocked', 1)
  emit(ctx, 'task_blocked', id, 'pending', {'blocked_by', blocked})
elseif ctx.started and waiting <= 0 then
  release(ctx, id)
end
return tree_outputs(ctx)
