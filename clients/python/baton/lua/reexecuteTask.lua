-- reexecuteTask.lua — SPEC "Re-execution": a failed or cancelled task (or a completed one, when
-- asked) goes back to `pending`, and so does every transitive dependent in this tree that is not
-- completed or running, in one step.
--
-- The reset set R is the task plus every task reachable through `dependents` (through any
-- status) whose status is failed, cancelled or pending. Pending ones are included, blocked or
-- not, because their `waiting` count consumed the earlier outcome of a task that now runs again.
-- For each task of R: status pending, result / error / progress / started_at / completed_at /
-- cancel_requested_at / blocked_by / retry_at cleared, attempt kept (`attempt_base` = attempt, so
-- max_attempts counts again from here), lease_losses 0, queued 0. Then `waiting` is recomputed
-- from the dependencies' current states (a dependency in R is waited for; a completed one counts as
-- resolved; a failed, cancelled or blocked one blocks a required edge and resolves an optional
-- one; a cross-tree one counts by its recorded xs:<dep> state), blocks are passed on with
-- include.lua's settle, and tasks whose dependencies are satisfied are released (outputs.released,
-- queued by the caller). A finished tree becomes in_progress again (finished_at removed) and
-- finishes anew through check_finished. Completed and running tasks are left alone; a queue entry
-- left by a reset task is dropped by startTasks.lua (it starts only pending+queued tasks).
-- Dependents in other trees are not reset (they keep the state they were told).
--
-- KEYS[1..3], ARGV[1..4] as in include.lua.
-- ARGV[5] '1' to check the owner, '0' for an admin     ARGV[6] the caller's user id
-- ARGV[7] task id                                      ARGV[8] '1' to allow re-executing a completed task
-- Returns {outputs, ids}: outputs as tree_outputs; ids the reset tasks, the given one first.
-- Errors: BATON not_found (missing or another user's), BATON immutable (archived tree),
--   BATON conflict (a link; pending or in_progress; completed without ARGV[8]; a key of the tree
--   of the wrong type, see tree_context; the task's key, or the key of a task reached through
--   `dependents` while the reset set is collected, exists and is not a hash).
-- Every refusal comes before the first write: the reset set is collected first, reading each
-- task it reaches. Dependencies read afterwards go through read_task (include.lua).
-- Emits task_reset (one per reset task, status pending), task_blocked, tree_finished.
local ctx = tree_context()
local check_owner, owner, root, include_completed = ARGV[5] == '1', ARGV[6], ARGV[7], ARGV[8] == '1'
local root_key = task_key(ctx, root)
if not ctx.exists or (check_owner and (ctx.user_id or '') ~= owner) then
  return baton_fail('not_found', 'Task ' .. root .. ' not found')
end
require_task(ctx, root)
local f = redis.call('HMGET', root_key, 'status', 'origin_type')
if not f[1] then return baton_fail('not_found', 'Task ' .. root .. ' not found') end
if ctx.archived then
  return baton_fail('immutable', 'Archived task ' .. root .. ' is immutable; copy it before editing')
end
if f[2] == 'link' then
  return baton_fail('conflict', 'Task ' .. root .. ' is a link and is never executed; copy it to run it again')
end
if f[1] == 'completed' and not include_completed then
  return baton_fail('conflict', 'Task ' .. root .. ' is completed; ask explicitly (include_completed) to re-execute it')
end
if f[1] ~= 'failed' and f[1] ~= 'cancelled' and f[1] ~= 'completed' then
  return baton_fail('conflict', 'Task ' .. root .. ' is ' .. f[1] .. '; only a failed or cancelled task can be re-executed')
end

-- The reset set, in breadth-first order from the task.
local in_set, order = {[root] = true}, {root}
local queue, head, seen = {root}, 1, {[root] = true}
while head <= #queue do
  local id = queue[head]
  head = head + 1
  for _, line in ipairs(lines(redis.call('HGET', task_key(ctx, id), 'dependents'))) do
    local dep = string.sub(line, 2)
    if not seen[dep] then
      seen[dep] = true
      queue[#queue + 1] = dep
      local status = redis.pcall('HGET', task_key(ctx, dep), 'status')
      if type(status) == 'table' then
        refuse('conflict', "Task '" .. dep .. "': its key is not a hash")
      end
      if status == 'failed' or status == 'cancelled' or status == 'pending' then
        in_set[dep] = true
        order[#order + 1] = dep
      end
    end
  end
end

-- Reset.
for _, id in ipairs(order) do
  local key = task_key(ctx, id)
  local g = redis.call('HMGET', key, 'status', 'blocked_by', 'progress', 'attempt')
  if g[1] == 'failed' then bump(ctx, 'n_failed', -1); bump(ctx, 'n_pending', 1)
  elseif g[1] == 'cancelled' then bump(ctx, 'n_cancelled', -1); bump(ctx, 'n_pending', 1)
  elseif g[1] == 'completed' then bump(ctx, 'n_completed', -1); bump(ctx, 'n_pending', 1)
  elseif g[2] then bump(ctx, 'n_blocked', -1) end
  ctx.progress_delta = ctx.progress_delta - (tonumber(g[3]) or 0)
  redis.call('HDEL', key, 'result', 'error', 'started_at', 'completed_at', 'cancel_requested_at',
    'cancel_message', 'blocked_by', 'retry_at')
  redis.call('HSET', key, 'status', 'pending', 'progress', '0', 'queued', '0', 'waiting', '0',
    'lease_losses', '0', 'handbacks', '0', 'attempt_base', g[4] or '0', 'updated_at', ctx.now)
  emit(ctx, 'task_reset', id, 'pending')
end

-- Recompute what each reset task waits for.
local blocked, ready = {}, {}
for _, id in ipairs(order) do
  local key = task_key(ctx, id)
  local waiting, cause = 0, nil
  for _, dep in ipairs(dependency_list(redis.call('HGET', key, 'dependencies'))) do
    local dep_id, required = dep[1], dep[2]
    local state, dep_cause = 'waiting', nil
    if not in_set[dep_id] then
      local d = read_task(ctx, dep_id, 'status', 'blocked_by')
      if d[1] then
        if d[1] == 'completed' then state = 'resolved'
        elseif d[1] == 'failed' or d[1] == 'cancelled' then state, dep_cause = 'failed', dep_id
        elseif d[1] == 'pending' and d[2] then state, dep_cause = 'failed', d[2] end
      else
        local xs = redis.call('HGET', key, 'xs:' .. dep_id)
        if xs == 'completed' then state = 'resolved'
        elseif xs then state, dep_cause = 'failed', dep_id end
      end
    end
    if state == 'waiting' then
      waiting = waiting + 1
    elseif state == 'failed' and required and not cause then
      cause = dep_cause
    end
  end
  redis.call('HSET', key, 'waiting', tostring(waiting))
  if cause then
    redis.call('HSET', key, 'blocked_by', cause)
    bump(ctx, 'n_blocked', 1)
    emit(ctx, 'task_blocked', id, 'pending', {'blocked_by', cause})
    blocked[#blocked + 1] = {id, cause}
  elseif waiting == 0 then
    ready[#ready + 1] = id
  end
end
for _, b in ipairs(blocked) do settle(ctx, b[1], 'blocked', b[2]) end
if ctx.started then
  for _, id in ipairs(ready) do
    -- settle above may have blocked it since
    if not redis.call('HGET', task_key(ctx, id), 'blocked_by') then release(ctx, id) end
  end
end

if ctx.status == 'completed' or ctx.status == 'failed' or ctx.status == 'cancelled' then
  redis.call('HSET', ctx.tree_key, 'status', 'in_progress', 'updated_at', ctx.now)
  redis.call('HDEL', ctx.tree_key, 'finished_at', 'expires_at')
  ctx.status = 'in_progress'
end
return {tree_outputs(ctx), order}
