-- applyReports.lua — applies agents' reports (and the reaper's lease expiries) to one tree.
-- Each report counts only for the attempt it names; a stale one is ignored. A report that was
-- already applied (a replayed bus entry) changes nothing but re-collects its outputs (recollect),
-- so the caller can redo the cross-slot work it may have missed.
--
-- KEYS[1..3], ARGV[1..4] as in include.lua.
-- ARGV[5..] groups of 5: kind, task id, attempt, data, extra
--   completed  data = result JSON
--   failed     data = error message, extra = partial result JSON or ''
--   progress   data = progress 0..1
--   expired    the lease ran out (the reaper; attempt = the task's attempt when the lease was
--              taken, '0' before any start): back to the queue, counted as a lease loss; after
--              max_lease_losses the task fails with 'lease expired'. Late (the task is at another
--              attempt now) it is ignored. reapLeases.lua gives each expiry to one reaper, so any
--              number of reapers may run.
--   orphaned   the orphan sweep saw the task in_progress at this attempt without a lease (it was
--              taken before the task started, and the agent died): like an expiry, but only
--              while the task is in_progress at that attempt
--   handback   a shutting-down agent returns a task it could not finish: back to the queue
--   cancelled  the attempt stopped after a cancel request; extra = partial result JSON or ''
-- Cancellation (cancelTasks.lua set cancel_requested_at / cancel_message on the running task):
-- whatever the attempt reports next that ends it (cancelled, completed, failed, handback, or the
-- reaper's expired) makes the task `cancelled` with error = the cancel message. A cancelled or
-- failed report keeps its partial result; a late completion's result is discarded. No retry.
-- Retries count failed attempts: starts since `attempt_base` (set by a re-execution) minus the
-- lease losses and hand-backs (`handbacks`), which are not failures. So max_attempts applies
-- again to a re-executed task.
-- Returns the tree outputs {released, delayed, leases, notify, finished, expires_at}; reports to a
-- tree that had already finished return its status and expiry again (see the end).
-- Refuses the whole call before writing: BATON conflict when a key of the tree has the wrong type
-- (tree_context) or the key of a reported task exists and is not a hash. A missing task's report
-- is ignored. Dependents found in `dependents` are read with read_task (include.lua).
-- Emits task_completed, task_failed, task_cancelled, task_requeued, progress, task_blocked, tree_finished.

local function backoff_delay_ms(policy, attempt)
  if not policy or policy == '' or policy == 'null' then return 0 end
  local p = cjson.decode(policy)
  local base = tonumber(p.base_s) or 1
  local delay = base
  if p.strategy == 'exponential' then delay = base * (2 ^ (attempt - 1)) end
  return math.floor(math.min(delay, 300) * 1000)
end

local function lease_done(ctx, executor, id)
  local l = ctx.leases
  l[#l + 1] = executor; l[#l + 1] = id
end

-- Outputs of a report that was already applied and ended task `id` in `state` (completed,
-- failed or cancelled): the dependents it released that are still queued, and the dependents in
-- other trees of it and of the tasks its failure blocked. The dispatch that would have queued and
-- notified them may have died with the process that applied the report; queueing is ZADD NX and
-- resolving a cross-tree dependency is idempotent, so emitting them again is harmless.
-- `id` is a reported task (its key was checked); its dependents are read with read_task.
local function recollect(ctx, id, state)
  local stack = {{id, state}}
  while #stack > 0 do
    local top = table.remove(stack)
    local f = read_task(ctx, top[1], 'dependents', 'xdependents', 'result')
    notify_dependents(ctx, f[2], top[1], top[2], f[3], id)
    for _, line in ipairs(lines(f[1])) do
      local d = string.sub(line, 2)
      local g = read_task(ctx, d, 'status', 'queued', 'executor', 'priority', 'blocked_by', 'retry_at', 'concurrency_key')
      if g[1] == 'pending' and g[2] == '1' and not g[6] then
        add_ready(ctx, g[3], g[4], d, g[7])
      elseif g[1] == 'pending' and g[5] == id and state ~= 'completed' then
        stack[#stack + 1] = {d, 'blocked'}
      end
    end
  end
end

local function fail_final(ctx, key, id, executor, message, partial, old_progress)
  local fields = {'HSET', key, 'status', 'failed', 'error', message, 'progress', '0',
    'completed_at', ctx.now, 'updated_at', ctx.now}
  if partial and partial ~= '' then fields[#fields + 1] = 'result'; fields[#fields + 1] = partial end
  redis.call(unpack(fields))
  ctx.progress_delta = ctx.progress_delta - old_progress
  bump(ctx, 'n_in_progress', -1)
  bump(ctx, 'n_failed', 1)
  emit(ctx, 'task_failed', id, 'failed', {'error', message})
  lease_done(ctx, executor, id)
  settle(ctx, id, 'failed', id)
end

-- A running task whose cancellation was requested ends: cancelled, partial result kept when given.
local function cancel_final(ctx, key, id, executor, message, partial, old_progress)
  redis.call('HSET', key, 'status', 'cancelled', 'error', message, 'progress', '0',
    'completed_at', ctx.now, 'updated_at', ctx.now)
  if partial and partial ~= '' then
    redis.call('HSET', key, 'result', partial)
  else
    redis.call('HDEL', key, 'result')
  end
  ctx.progress_delta = ctx.progress_delta - old_progress
  bump(ctx, 'n_in_progress', -1)
  bump(ctx, 'n_cancelled', 1)
  local extra = {'error', message}
  if partial and partial ~= '' then extra[#extra + 1] = 'result'; extra[#extra + 1] = partial end
  emit(ctx, 'task_cancelled', id, 'cancelled', extra)
  lease_done(ctx, executor, id)
  settle(ctx, id, 'cancelled', id)
end

-- A running task goes back to its queue without counting as a failed attempt.
local function requeue(ctx, key, id, executor, old_progress, reason)
  redis.call('HSET', key, 'status', 'pending', 'progress', '0', 'updated_at', ctx.now)
  ctx.progress_delta = ctx.progress_delta - old_progress
  bump(ctx, 'n_in_progress', -1)
  bump(ctx, 'n_pending', 1)
  emit(ctx, 'task_requeued', id, 'pending', {'reason', reason})
  lease_done(ctx, executor, id)
  release(ctx, id)
end

-- An attempt lost its lease (expired, or gone): the cancellation it still owes is applied, else
-- the task goes back to its queue, counted as a lease loss; after max_lease_losses it fails.
-- `f` is the task's HMGET of the main loop.
local function lose_lease(ctx, key, id, executor, f, old_progress, reason)
  if f[14] then
    cancel_final(ctx, key, id, executor, f[15] or 'Cancellation requested', '', old_progress)
    return
  end
  local losses = (tonumber(f[8]) or 0) + 1
  redis.call('HSET', key, 'lease_losses', losses)
  if losses >= (tonumber(f[9]) or 3) then
    fail_final(ctx, key, id, executor, 'lease expired', '', old_progress)
  else
    requeue(ctx, key, id, executor, old_progress, reason)
  end
end

local ctx = tree_context()
for i = 5, #ARGV, 5 do require_task(ctx, ARGV[i + 1]) end
local finished_before = ctx.status == 'completed' or ctx.status == 'failed' or ctx.status == 'cancelled'

for i = 5, #ARGV, 5 do
  local kind, id, attempt, data, extra = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local key = task_key(ctx, id)
  local f = redis.call('HMGET', key, 'status', 'attempt', 'executor', 'priority', 'progress',
    'max_attempts', 'backoff', 'lease_losses', 'max_lease_losses', 'queued', 'retry_at',
    'dependents', 'xdependents', 'cancel_requested_at', 'cancel_message', 'attempt_base', 'handbacks', 'concurrency_key')
  local status, current, executor = f[1], f[2], f[3]
  local running = status == 'in_progress' and current == attempt
  local old_progress = tonumber(f[5]) or 0
  local ends = kind == 'completed' or kind == 'failed' or kind == 'cancelled' or kind == 'handback'
  -- A replay of the report (or of the expiry) that ended this attempt: its outputs again.
  local ended_before = kind ~= 'progress' and current == attempt
    and (status == 'completed' or status == 'failed' or status == 'cancelled')

  if running and ends and (f[14] or kind == 'cancelled') then
    local message = f[15] or (data ~= '' and data) or 'Cancellation requested'
    local partial = ''
    if kind == 'cancelled' or kind == 'failed' then partial = extra end
    cancel_final(ctx, key, id, executor, message, partial, old_progress)

  elseif ends and status == 'cancelled' and current == attempt then
    -- replayed after the cancellation was applied: only make sure the lease is gone
    lease_done(ctx, executor, id)

  elseif kind == 'completed' then
    if running then
      redis.call('HSET', key, 'status', 'completed', 'result', data, 'progress', '1',
        'completed_at', ctx.now, 'updated_at', ctx.now)
      ctx.progress_delta = ctx.progress_delta + 1 - old_progress
      bump(ctx, 'n_in_progress', -1)
      bump(ctx, 'n_completed', 1)
      emit(ctx, 'task_completed', id, 'completed', {'result', data, 'progress', '1'})
      lease_done(ctx, executor, id)
      settle(ctx, id, 'completed', id, {f[12], f[13], data})
    end

  elseif kind == 'failed' then
    if running then
      -- Failed attempts only: lost leases and handed-back attempts started the task too, but
      -- do not count against max_attempts (SPEC "Lost agents").
      local attempt_n = (tonumber(attempt) or 1) - (tonumber(f[16]) or 0) - (tonumber(f[8]) or 0) - (tonumber(f[17]) or 0)
      if attempt_n < (tonumber(f[6]) or 1) then
        local due = tonumber(ctx.now) + backoff_delay_ms(f[7], attempt_n)
        local fields = {'HSET', key, 'status', 'pending', 'queued', '1', 'error', data, 'progress', '0',
          'retry_at', tostring(due), 'updated_at', ctx.now}
        if extra ~= '' then fields[#fields + 1] = 'result'; fields[#fields + 1] = extra end
        redis.call(unpack(fields))
        ctx.progress_delta = ctx.progress_delta - old_progress
        bump(ctx, 'n_in_progress', -1)
        bump(ctx, 'n_pending', 1)
        emit(ctx, 'task_failed', id, 'pending', {'error', data, 'will_retry', '1', 'retry_at', tostring(due)})
        add_delayed(ctx, executor, f[4], id, tostring(due), f[18])
        lease_done(ctx, executor, id)
      else
        fail_final(ctx, key, id, executor, data, extra, old_progress)
      end
    elseif status == 'pending' and f[10] == '1' and current == attempt and f[11] then
      add_delayed(ctx, executor, f[4], id, f[11], f[18])
    end

  elseif kind == 'progress' then
    if running then
      local value = math.max(0, math.min(1, tonumber(data) or 0))
      redis.call('HSET', key, 'progress', tostring(value), 'updated_at', ctx.now)
      ctx.progress_delta = ctx.progress_delta + value - old_progress
      emit(ctx, 'progress', id, 'in_progress', {'progress', tostring(value)})
    end

  elseif kind == 'handback' then
    if running then
      redis.call('HINCRBY', key, 'handbacks', 1)
      requeue(ctx, key, id, executor, old_progress, 'handed back by a stopping agent')
    end

  elseif kind == 'expired' then
    -- The reaper names the attempt the lease belonged to (the task's attempt when it took the
    -- lease; '0' before any start). A task that has moved on since — started again, or requeued
    -- and claimed again — is not this lease's: the report is late and changes nothing.
    local same = (current or '0') == attempt
    if not same and (status == 'in_progress' or (status == 'pending' and f[10] == '1')) then
      -- late: ignored (the lease now belongs to the newer claim, which keeps it)
    elseif status == 'in_progress' then
      lose_lease(ctx, key, id, executor, f, old_progress, 'lease expired')
    elseif status == 'pending' and f[10] == '1' and (not f[11] or tonumber(f[11]) <= tonumber(ctx.now)) then
      -- claimed from the queue but never started (the agent died in between): queue it again
      lease_done(ctx, executor, id)
      add_ready(ctx, executor, f[4], id, f[18])
    elseif status == 'pending' and f[10] == '1' then
      -- a retry still in its backoff, claimed from a stale queue entry by an agent that died
      -- before parking it again (startTasks.lua 'early'): back to the delayed set
      lease_done(ctx, executor, id)
      add_delayed(ctx, executor, f[4], id, f[11], f[18])
    elseif executor then
      lease_done(ctx, executor, id)
    end

  elseif kind == 'orphaned' then
    -- Only while the task still runs this very attempt: it was seen in_progress without a lease
    -- at this attempt, and since attempts only grow, it has been so ever since.
    if running then lose_lease(ctx, key, id, executor, f, old_progress, 'lease lost') end
  end
  if ended_before then recollect(ctx, id, status) end
end
local outputs = tree_outputs(ctx)
if finished_before and outputs[5] == '' then
  -- Reports to a tree that had finished (a replayed entry among them) re-collect its expiry: the
  -- dispatch that indexes it in trees:expiring may have died with the report that finished it.
  local expires = redis.call('HGET', ctx.tree_key, 'expires_at')
  if expires then outputs[5] = ctx.status; outputs[6] = expires end
end
return outputs
