-- submitTree.lua — stores a whole validated tree at once (all tasks or none).
--
-- KEYS[1..3] tree, tasks, events (see include.lua)
-- ARGV[1..4] now, events bound, channel, tree id (see include.lua)
-- ARGV[5] user id ('' for none)      ARGV[6] '1' to start executing now, '0' to only store
-- ARGV[7] root id                    ARGV[8] origin type (create, copy, link, mixed)
-- ARGV[9] number of tasks n, then for each task: id, field count k, k field/value pairs
--         (the complete task hash, written by the Swift store; ready tasks already carry queued=1),
--         then the submission token ('' for none), kept in the tree record as `token`, and the
--         retention in ms ('' for none: never expires), kept as `retention_ms`
--
-- Tasks are pending, except the link nodes of a link or mixed tree (BatonStore+Copy.swift), which
-- are stored `completed` with progress 1: the counters count them so, and a tree made only of
-- completed tasks is finished at once (status completed, finished_at, tree_finished).
--
-- Every key it writes must be new, so a tree never adopts what an earlier write, a crash or a
-- planted key left behind (fields, events, members). Before writing anything it refuses:
--   BATON already_exists  the tree key exists ('Task tree X already exists'), or the key of a task
--                         exists, of any type ("Task id 'X' already exists", the first in order)
--   BATON conflict        the tree's `tasks` or `events` key exists, or a key of the tree has
--                         the wrong type (see include.lua's tree_context)
--   BATON invalid_argument  the task list in ARGV is malformed
-- The existence check is one EXISTS per 1,000 task keys (the keys are built once and reused).
-- Returns 'OK', or 'REPLAY' (and writes nothing) when the tree was already stored by the same
-- submission token: a replay after a crash, which the caller completes (indexes, queues).
-- Emits task_created for every task (with its status), tree_finished for an all-completed tree.
local ctx = tree_context()
local token = ''
if redis.call('EXISTS', ctx.tree_key) == 1 then
  -- The token is the last argument but one, after the task list.
  token = ARGV[#ARGV - 1]
  if token ~= '' and ctx.exists and redis.call('HGET', ctx.tree_key, 'token') == token then return 'REPLAY' end
  return baton_fail('already_exists', 'Task tree ' .. ctx.tree .. ' already exists')
end
for _, leftover in ipairs({{ctx.tasks_key, 'task list'}, {ctx.events_key, 'event stream'}}) do
  if redis.call('EXISTS', leftover[1]) == 1 then
    return baton_fail('conflict', "Task tree '" .. ctx.tree .. "' cannot be stored: its " .. leftover[2] .. ' already exists')
  end
end

-- The task list: ids, keys and where each hash starts in ARGV.
local n = tonumber(ARGV[9])
if not n or n < 0 then return baton_fail('invalid_argument', 'The task count of the submission is malformed') end
local ids, keys, starts, counts = {}, {}, {}, {}
local i = 10
for position = 1, n do
  local id, k = ARGV[i], tonumber(ARGV[i + 1])
  if not id or not k or k < 1 or i + 1 + 2 * k > #ARGV then
    return baton_fail('invalid_argument', 'Task ' .. position .. ' of the submission is malformed')
  end
  ids[position], keys[position], starts[position], counts[position] = id, task_key(ctx, id), i + 2, k
  i = i + 2 + 2 * k
end
token = ARGV[i]
local retention = ARGV[i + 1]
if token == nil or retention == nil or i + 1 ~= #ARGV or (retention ~= '' and not tonumber(retention)) then
  return baton_fail('invalid_argument', 'The submission token and retention must follow the task list')
end

-- No task key may exist yet, whatever its type.
for first = 1, n, 1000 do
  local last = math.min(first + 999, n)
  if redis.call('EXISTS', unpack(keys, first, last)) > 0 then
    for position = first, last do
      if redis.call('EXISTS', keys[position]) == 1 then
        return baton_fail('already_exists', "Task id '" .. ids[position] .. "' already exists")
      end
    end
  end
end

-- Everything checked: from here on every key written is new.
local members = {}
local completed = 0
for position = 1, n do
  local id, from = ids[position], starts[position]
  local hset = {'HSET', keys[position]}
  local status = 'pending'
  for j = from, from + 2 * counts[position] - 1, 2 do
    hset[#hset + 1] = ARGV[j]
    hset[#hset + 1] = ARGV[j + 1]
    if ARGV[j] == 'status' then status = ARGV[j + 1] end
  end
  redis.call(unpack(hset))
  members[#members + 1] = position
  members[#members + 1] = id
  if #members >= 1000 then
    redis.call('ZADD', ctx.tasks_key, unpack(members))
    members = {}
  end
  if status == 'completed' then completed = completed + 1 end
  emit(ctx, 'task_created', id, status)
end
if #members > 0 then redis.call('ZADD', ctx.tasks_key, unpack(members)) end

redis.call('HSET', ctx.tree_key,
  'id', ctx.tree, 'user_id', ARGV[5], 'root_id', ARGV[7], 'status', 'pending',
  'started', ARGV[6], 'origin_type', ARGV[8], 'archived', '0', 'token', token,
  'created_at', ctx.now, 'updated_at', ctx.now,
  'n_total', n, 'n_pending', n - completed, 'n_in_progress', 0, 'n_completed', completed,
  'n_failed', 0, 'n_cancelled', 0, 'n_blocked', 0, 'progress_sum', completed)
if retention ~= '' then redis.call('HSET', ctx.tree_key, 'retention_ms', retention) end
if n > 0 and completed == n then
  redis.call('HSET', ctx.tree_key, 'status', 'completed', 'finished_at', ctx.now)
  if retention ~= '' then redis.call('HSET', ctx.tree_key, 'expires_at', tonumber(ctx.now) + tonumber(retention)) end
  emit(ctx, 'tree_finished', ctx.tree, 'completed', {'progress', '1.0000'})
end
redis.call('SPUBLISH', ctx.channel, ctx.tree)
return 'OK'
