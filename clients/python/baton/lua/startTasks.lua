-- startTasks.lua — an agent starts tasks it popped from a ready queue: pending+queued tasks
-- become in_progress with attempt+1. Anything else (already started, cancelled, a duplicate
-- queue entry, a missing task) is answered 'stale' and must be dropped by the agent. A retry
-- whose backoff has not ended (a replayed report released it again after it failed: a stale
-- queue entry) is answered {id, 'early', retry_at, priority, user, concurrency key}: the agent
-- parks it in the shard's delayed set again and ends its lease.
--
-- KEYS[1..3], ARGV[1..4] as in include.lua; ARGV[5..] task ids.
-- Returns one entry per id: {id, 'ok', attempt, executor, name, inputs, params, schemas, timeout_s}
-- or {id, 'stale'}.
-- Refuses before writing: BATON conflict when a key of the tree has the wrong type (tree_context)
-- or the key of a given task exists and is not a hash. Every task is read before the first
-- write (a start changes only its own task, so the reads stay true; a repeated id is stale).
-- Emits task_started.
local ctx = tree_context()
local read = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  read[i] = checked(redis.pcall('HMGET', task_key(ctx, id), 'status', 'queued', 'attempt', 'executor', 'name',
    'inputs', 'params', 'schemas', 'timeout_s', 'progress', 'retry_at', 'priority', 'concurrency_key'), task_key(ctx, id), 'hash', "Task '" .. id .. "'")
end

local out = {}
local any_started = false
local seen = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local key = task_key(ctx, id)
  local f = read[i]
  local first = not seen[id]
  seen[id] = true
  if first and f[1] == 'pending' and f[2] == '1' and not ctx.archived and f[11] and tonumber(f[11]) > tonumber(ctx.now) then
    out[#out + 1] = {id, 'early', f[11], f[12] or '2', ctx.user_id or '', f[13] or ''}
  elseif first and f[1] == 'pending' and f[2] == '1' and not ctx.archived then
    local attempt = (tonumber(f[3]) or 0) + 1
    redis.call('HSET', key, 'status', 'in_progress', 'queued', '0', 'attempt', attempt,
      'started_at', ctx.now, 'updated_at', ctx.now, 'progress', '0')
    if attempt > 1 then redis.call('HDEL', key, 'error', 'result', 'retry_at', 'completed_at') end
    ctx.progress_delta = ctx.progress_delta - (tonumber(f[10]) or 0)
    bump(ctx, 'n_pending', -1)
    bump(ctx, 'n_in_progress', 1)
    emit(ctx, 'task_started', id, 'in_progress', {'attempt', tostring(attempt)})
    out[#out + 1] = {id, 'ok', tostring(attempt), f[4] or '', f[5] or '', f[6] or '{}', f[7] or '{}', f[8] or '{}', f[9] or ''}
    any_started = true
  else
    out[#out + 1] = {id, 'stale'}
  end
end
if any_started and ctx.status == 'pending' then
  redis.call('HSET', ctx.tree_key, 'status', 'in_progress')
  ctx.status = 'in_progress'
end
tree_outputs(ctx)
return out
