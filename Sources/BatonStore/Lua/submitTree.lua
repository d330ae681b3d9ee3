-- submitTree.lua — stores a whole validated tree at once (all tasks or none).
--
-- KEYS[1..3] tree, tasks, events (see include.lua)
-- ARGV[1..4] now, events bound, channel, tree id (see include.lua)
-- ARGV[5] user id ('' for none)      ARGV[6] '1' to start executing now, '0' to only store
-- ARGV[7] root id                    ARGV[8] origin type (create, copy, link, mixed)
-- ARGV[9] number of tasks n, then for each task: id, field count k, k field/value pairs
--         (the complete task hash, written by the Swift store; ready tasks already carry queued=1)
--
-- Tasks are pending, except the link nodes of a link or mixed tree (BatonStore+Copy.swift), which
-- are stored `completed` with progress 1: the counters count them so, and a tree made only of
-- completed tasks is finished at once (status completed, finished_at, tree_finished).
--
-- Returns 'OK'. Errors: BATON already_exists (the tree id is taken).
-- Emits task_created for every task (with its status), tree_finished for an all-completed tree.
local ctx = tree_context()
if ctx.exists then return baton_fail('already_exists', 'Task tree ' .. ctx.tree .. ' already exists') end

local n = tonumber(ARGV[9])
local i = 10
local members = {}
local completed = 0
for position = 1, n do
  local id, k = ARGV[i], tonumber(ARGV[i + 1])
  local hset = {'HSET', task_key(ctx, id)}
  local status = 'pending'
  for j = i + 2, i + 1 + 2 * k do
    hset[#hset + 1] = ARGV[j]
    if ARGV[j] == 'status' and (j - i) % 2 == 0 then status = ARGV[j + 1] end
  end
  redis.call(unpack(hset))
  i = i + 2 + 2 * k
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
  'started', ARGV[6], 'origin_type', ARGV[8], 'archived', '0',
  'created_at', ctx.now, 'updated_at', ctx.now,
  'n_total', n, 'n_pending', n - completed, 'n_in_progress', 0, 'n_completed', completed,
  'n_failed', 0, 'n_cancelled', 0, 'n_blocked', 0, 'progress_sum', completed)
if n > 0 and completed == n then
  redis.call('HSET', ctx.tree_key, 'status', 'completed', 'finished_at', ctx.now)
  emit(ctx, 'tree_finished', ctx.tree, 'completed', {'progress', '1.0000'})
end
redis.call('PUBLISH', ctx.channel, ctx.tree)
return 'OK'
