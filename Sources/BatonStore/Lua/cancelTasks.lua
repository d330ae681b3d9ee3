-- cancelTasks.lua — cancels one task, or every pending and in_progress task of the tree
-- (SPEC "Cancellation").
--   pending      -> cancelled at once: error = the message, dependents settled like a failure
--                   (required ones blocked, optional ones released). A cancelled task still in a
--                   ready or delayed queue is dropped when an agent pops it (startTasks.lua only
--                   starts pending+queued tasks).
--   in_progress  -> stays in_progress with cancel_requested_at = now and cancel_message set (the
--                   first request's time and message are kept). The caller then signals the agent
--                   holding the lease (pub/sub + the queue's `cancels` hash, see
--                   requestCancel.lua); applyReports.lua turns whatever the attempt reports next
--                   into `cancelled`.
-- Tree mode also marks a stored-but-never-started tree as started, so that it can finish.
--
-- KEYS[1..3], ARGV[1..4] as in include.lua.
-- ARGV[5] '1' to check the owner, '0' for an admin     ARGV[6] the caller's user id
-- ARGV[7] the message (error of the cancelled tasks)   ARGV[8] 'task' or 'tree'
-- ARGV[9] task id (task mode)
-- ARGV[10], ARGV[11] tree mode: the first and last rank in `tasks` to cancel (ZRANGE ranks,
--   negative from the end: '0', '-1' for every task). A big tree is cancelled in slices of
--   ranks, one call each, so no call holds Redis long (BatonStore+Cancel.swift).
-- Returns {outputs, entries, total}: outputs as include.lua's tree_outputs; entries a flat list of
--   id, outcome ('cancelled' | 'cancelling'), executor, attempt   (tree mode: one per task touched);
--   total the number of tasks of the tree
-- Errors (task mode): BATON not_found (missing, or another user's), BATON immutable (archived tree),
--   BATON already_terminal 'Task X is already <status>'. Tree mode: not_found, immutable.
-- Both modes refuse with BATON conflict when a key of the tree has the wrong type (tree_context),
-- or (task mode) the task's key, (tree mode) the key of any task of `tasks`, exists and is not a
-- hash; BATON invalid_argument for another mode. Every refusal comes before the first write.
-- Emits task_cancelled, cancel_requested, task_blocked, tree_finished.
local ctx = tree_context()
local check_owner, owner, message, mode = ARGV[5] == '1', ARGV[6], ARGV[7], ARGV[8]
local entries = {}

if mode ~= 'task' and mode ~= 'tree' then
  return baton_fail('invalid_argument', "Cancel mode '" .. tostring(mode) .. "' is neither task nor tree")
end
local ids = {}
if mode == 'tree' then
  if not ctx.exists or (check_owner and (ctx.user_id or '') ~= owner) then
    return baton_fail('not_found', 'Task tree ' .. ctx.tree .. ' not found')
  end
  if ctx.archived then
    return baton_fail('immutable', 'Archived task ' .. ctx.tree .. ' is immutable; copy it before editing')
  end
  -- Every task is checked before anything is written (the loop below reads each one again: a
  -- cancellation settles dependents, so a read made before it may be stale).
  local first, last = tonumber(ARGV[10] or '0'), tonumber(ARGV[11] or '-1')
  if not first or not last then return baton_fail('invalid_argument', 'Malformed cancel ranks') end
  ids = redis.call('ZRANGE', ctx.tasks_key, first, last)
  for _, id in ipairs(ids) do require_task(ctx, id) end
end

local function cancel_pending(id, key, f)
  redis.call('HSET', key, 'status', 'cancelled', 'error', message, 'queued', '0', 'progress', '0',
    'completed_at', ctx.now, 'updated_at', ctx.now)
  if f[4] then
    redis.call('HDEL', key, 'blocked_by', 'retry_at')
    bump(ctx, 'n_blocked', -1)
  else
    redis.call('HDEL', key, 'retry_at')
  end
  ctx.progress_delta = ctx.progress_delta - (tonumber(f[5]) or 0)
  bump(ctx, 'n_pending', -1)
  bump(ctx, 'n_cancelled', 1)
  emit(ctx, 'task_cancelled', id, 'cancelled', {'error', message})
  settle(ctx, id, 'cancelled', id)
  entries[#entries + 1] = id; entries[#entries + 1] = 'cancelled'
  entries[#entries + 1] = f[2] or ''; entries[#entries + 1] = f[3] or '0'
end

local function request_stop(id, key, f)
  if not f[6] then
    redis.call('HSET', key, 'cancel_requested_at', ctx.now, 'cancel_message', message, 'updated_at', ctx.now)
    emit(ctx, 'cancel_requested', id, 'in_progress', {'error', message})
  end
  entries[#entries + 1] = id; entries[#entries + 1] = 'cancelling'
  entries[#entries + 1] = f[2] or ''; entries[#entries + 1] = f[3] or '0'
end

local function fields(key)
  return redis.call('HMGET', key, 'status', 'executor', 'attempt', 'blocked_by', 'progress', 'cancel_requested_at')
end

if mode == 'task' then
  local id = ARGV[9]
  local key = task_key(ctx, id)
  if not ctx.exists or (check_owner and (ctx.user_id or '') ~= owner) then
    return baton_fail('not_found', 'Task ' .. id .. ' not found')
  end
  require_task(ctx, id)
  local f = fields(key)
  if not f[1] then return baton_fail('not_found', 'Task ' .. id .. ' not found') end
  if ctx.archived then
    return baton_fail('immutable', 'Archived task ' .. id .. ' is immutable; copy it before editing')
  end
  if f[1] == 'pending' then
    cancel_pending(id, key, f)
  elseif f[1] == 'in_progress' then
    request_stop(id, key, f)
  else
    return baton_fail('already_terminal', 'Task ' .. id .. ' is already ' .. f[1])
  end
else
  if not ctx.started then
    redis.call('HSET', ctx.tree_key, 'started', '1')
    ctx.started = true
  end
  for _, id in ipairs(ids) do
    local key = task_key(ctx, id)
    local f = fields(key)
    if f[1] == 'pending' then
      cancel_pending(id, key, f)
    elseif f[1] == 'in_progress' then
      request_stop(id, key, f)
    end
  end
end
return {tree_outputs(ctx), entries, redis.call('ZCARD', ctx.tasks_key)}
