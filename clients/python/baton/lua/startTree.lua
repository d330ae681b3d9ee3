-- startTree.lua — starts a stored tree (the guide's distribute_task_tree), or repairs a started
-- one: every pending, unblocked task whose dependencies all resolved is (again) reported ready.
-- Retries waiting for their backoff (retry_at set) are left to the delayed set.
-- Idempotent: the caller puts the returned tasks in their queues, where duplicates collapse.
--
-- KEYS[1..3], ARGV[1..4] as in include.lua.
-- ARGV[5], ARGV[6] the first and last rank in `tasks` to look at (ZRANGE ranks; default '0',
--   '-1': every task). A big tree is started in slices of ranks, one call each, so no call
--   holds Redis long (BatonStore+Submit.swift); the first marks the tree started (started_at).
-- Returns the tree outputs {released, delayed, leases, notify, finished}.
-- Every task is read before anything is written. Refuses before writing:
--   BATON not_found  no tree record      BATON immutable  archived tree
--   BATON conflict   a key of the tree has the wrong type (tree_context), or a task of `tasks`
--                    has a key that is not a hash
local ctx = tree_context()
if not ctx.exists then return baton_fail('not_found', 'Task tree ' .. ctx.tree .. ' not found') end
if ctx.archived then return baton_fail('immutable', 'Archived task ' .. ctx.tree .. ' is immutable; copy it before editing') end

-- Read: which tasks are already queued (reported again) and which become ready now, in order.
local ready = {}
local first, last = tonumber(ARGV[5] or '0'), tonumber(ARGV[6] or '-1')
if not first or not last then return baton_fail('invalid_argument', 'Malformed start ranks') end
for _, id in ipairs(redis.call('ZRANGE', ctx.tasks_key, first, last)) do
  local f = redis.pcall('HMGET', task_key(ctx, id), 'status', 'blocked_by', 'waiting', 'queued', 'executor', 'priority', 'retry_at', 'concurrency_key')
  if f['err'] then refuse('conflict', "Task '" .. id .. "': its key is not a hash") end
  if f[1] == 'pending' and not f[2] and not f[7] and (tonumber(f[3]) or 0) <= 0 then
    ready[#ready + 1] = {id, f}
  end
end

-- Write.
if not ctx.started then
  redis.call('HSET', ctx.tree_key, 'started', '1', 'started_at', ctx.now, 'updated_at', ctx.now)
  ctx.started = true
end
for _, entry in ipairs(ready) do
  local id, f = entry[1], entry[2]
  if f[4] == '1' then
    add_ready(ctx, f[5], f[6], id, f[8])
  else
    release(ctx, id)
  end
end
return tree_outputs(ctx)
