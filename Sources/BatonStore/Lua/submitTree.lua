-- submitTree.lua — stores a validated tree: all tasks or none, as readers see it.
--
-- KEYS[1..3] tree, tasks, events (see include.lua)
-- ARGV[1..4] now, events bound, channel, tree id (see include.lua)
-- ARGV[5] user id ('' for none)      ARGV[6] '1' to start executing now, '0' to only store
-- ARGV[7] root id                    ARGV[8] origin type (create, copy, link, mixed)
-- ARGV[9] mode:
--   'all'     store the whole tree in this call (a tree of at most one slice);
--   'stage'   write this slice of the tree's tasks under a record in status `staging`, which no
--             reader sees (TreeRecord, tree_context and the task reads answer not_found) and no
--             script but this one and deleteTree.lua touches; the first slice (ARGV[10] = 0)
--             creates the record, a later one requires it staging under the same token;
--   'commit'  make a staged tree visible: ARGV[10] must equal the number of tasks staged.
-- ARGV[10] position of the slice's first task in the tree (0 for 'all'; for 'commit', the total)
-- ARGV[11] number of tasks n in this call (0 for 'commit'), then for each task: id, field count k,
--          k field/value pairs (the complete task hash, written by the Swift store; ready tasks
--          already carry queued=1), then the submission token ('' for none), kept in the tree
--          record as `token`, and the retention in ms ('' for none: never expires), kept as
--          `retention_ms`
--
-- A big tree is thus written in slices of bounded size, so no call holds Redis long (the Swift
-- store writes slices of ~1,000 tasks), and appears at once with its commit. A failed or
-- abandoned staging is removed by deleteTree.lua ('staged').
--
-- Tasks are pending, except the link nodes of a link or mixed tree (BatonStore+Copy.swift), which
-- are stored `completed` with progress 1: the counters count them so, and a tree made only of
-- completed tasks is finished at once (status completed, finished_at, tree_finished).
--
-- Every key it writes must be new, so a tree never adopts what an earlier write, a crash or a
-- planted key left behind (fields, events, members). Before writing anything it refuses:
--   BATON already_exists  the tree key exists ('Task tree X already exists'; for 'stage' and
--                         'commit': unless it is staging under the same token), or the key of a
--                         task exists, of any type ("Task id 'X' already exists", the first in order)
--   BATON conflict        the tree's `tasks` or `events` key exists (first slice), a later slice or
--                         the commit finds no staging of this token or not every slice, or a key of
--                         the tree has the wrong type (see include.lua's tree_context)
--   BATON invalid_argument  the task list in ARGV is malformed
-- The existence check is one EXISTS per 1,000 task keys (the keys are built once and reused).
-- Returns 'OK', 'RESTAGE' (first slice: this token's own earlier staging is there; delete it and
-- stage again), or 'REPLAY' (and writes nothing) when the tree was already stored by the same
-- submission token: a replay after a crash, which the caller completes (indexes, queues).
-- Emits task_created for every task (with its status), tree_finished for an all-completed tree.
local ctx = tree_context(true)
local mode, first_position = ARGV[9], tonumber(ARGV[10])
if (mode ~= 'all' and mode ~= 'stage' and mode ~= 'commit') or not first_position or first_position < 0 then
  return baton_fail('invalid_argument', 'The mode or position of the submission is malformed')
end

-- The task list: ids, keys and where each hash starts in ARGV.
local n = tonumber(ARGV[11])
if not n or n < 0 or (mode == 'commit' and n ~= 0) then
  return baton_fail('invalid_argument', 'The task count of the submission is malformed')
end
local ids, keys, starts, counts = {}, {}, {}, {}
local i = 12
for position = 1, n do
  local id, k = ARGV[i], tonumber(ARGV[i + 1])
  if not id or not k or k < 1 or i + 1 + 2 * k > #ARGV then
    return baton_fail('invalid_argument', 'Task ' .. (first_position + position) .. ' of the submission is malformed')
  end
  ids[position], keys[position], starts[position], counts[position] = id, task_key(ctx, id), i + 2, k
  i = i + 2 + 2 * k
end
local token = ARGV[i]
local retention = ARGV[i + 1]
if token == nil or retention == nil or i + 1 ~= #ARGV or (retention ~= '' and not tonumber(retention)) then
  return baton_fail('invalid_argument', 'The submission token and retention must follow the task list')
end

-- The tree record: new for 'all' and a first slice, this token's staging otherwise.
-- (ctx.exists means `started` is set, which a staging record lacks: ask the key itself.)
local exists = redis.call('EXISTS', ctx.tree_key) == 1
local staging_ours = ctx.status == 'staging' and token ~= '' and redis.call('HGET', ctx.tree_key, 'token') == token
if exists and ctx.status ~= 'staging' then
  if token ~= '' and redis.call('HGET', ctx.tree_key, 'token') == token then return 'REPLAY' end
  return baton_fail('already_exists', 'Task tree ' .. ctx.tree .. ' already exists')
end
local creates = mode == 'all' or (mode == 'stage' and first_position == 0)
if creates then
  if exists then
    if staging_ours and mode == 'stage' then return 'RESTAGE' end
    return baton_fail('already_exists', 'Task tree ' .. ctx.tree .. ' already exists')
  end
  for _, leftover in ipairs({{ctx.tasks_key, 'task list'}, {ctx.events_key, 'event stream'}}) do
    if redis.call('EXISTS', leftover[1]) == 1 then
      return baton_fail('conflict', "Task tree '" .. ctx.tree .. "' cannot be stored: its " .. leftover[2] .. ' already exists')
    end
  end
elseif not staging_ours then
  return baton_fail('conflict', 'Task tree ' .. ctx.tree .. ' is not being staged by this submission (abandoned, or stored meanwhile)')
elseif mode == 'stage' and redis.call('ZCARD', ctx.tasks_key) ~= first_position then
  return baton_fail('conflict', 'Task tree ' .. ctx.tree .. ': slice at ' .. first_position .. ' does not follow the slices staged')
elseif mode == 'commit' and (redis.call('ZCARD', ctx.tasks_key) ~= first_position or ctx.count.n_total ~= first_position) then
  return baton_fail('conflict', 'Task tree ' .. ctx.tree .. ': ' .. redis.call('ZCARD', ctx.tasks_key)
    .. ' tasks staged, ' .. first_position .. ' expected')
end

-- No task key may exist yet, whatever its type.
for from = 1, n, 1000 do
  local to = math.min(from + 999, n)
  if redis.call('EXISTS', unpack(keys, from, to)) > 0 then
    for position = from, to do
      if redis.call('EXISTS', keys[position]) == 1 then
        return baton_fail('already_exists', "Task id '" .. ids[position] .. "' already exists")
      end
    end
  end
end

-- Everything checked: from here on every key written is new.
if creates then
  redis.call('HSET', ctx.tree_key,
    'id', ctx.tree, 'user_id', ARGV[5], 'root_id', ARGV[7], 'status', mode == 'all' and 'pending' or 'staging',
    'origin_type', ARGV[8], 'archived', '0', 'token', token, 'created_at', ctx.now,
    'n_total', 0, 'n_pending', 0, 'n_in_progress', 0, 'n_completed', 0,
    'n_failed', 0, 'n_cancelled', 0, 'n_blocked', 0, 'progress_sum', 0)
end
-- Staging keeps `updated_at` fresh: the sweep removes only a staging nobody wrote to for a minute.
redis.call('HSET', ctx.tree_key, 'updated_at', ctx.now)

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
  members[#members + 1] = first_position + position
  members[#members + 1] = id
  if #members >= 1000 then
    redis.call('ZADD', ctx.tasks_key, unpack(members))
    members = {}
  end
  if status == 'completed' then completed = completed + 1 end
  emit(ctx, 'task_created', id, status)
end
if #members > 0 then redis.call('ZADD', ctx.tasks_key, unpack(members)) end
if n > 0 then
  redis.call('HINCRBY', ctx.tree_key, 'n_total', n)
  redis.call('HINCRBY', ctx.tree_key, 'n_completed', completed)
end
if mode == 'stage' then return 'OK' end

-- Visible from here: counters, status and retention of the whole tree.
local total = ctx.count.n_total + n
completed = ctx.count.n_completed + completed
redis.call('HSET', ctx.tree_key, 'status', 'pending', 'started', ARGV[6],
  'n_pending', total - completed, 'progress_sum', completed)
if retention ~= '' then redis.call('HSET', ctx.tree_key, 'retention_ms', retention) end
if total > 0 and completed == total then
  redis.call('HSET', ctx.tree_key, 'status', 'completed', 'finished_at', ctx.now)
  if retention ~= '' then redis.call('HSET', ctx.tree_key, 'expires_at', tonumber(ctx.now) + tonumber(retention)) end
  emit(ctx, 'tree_finished', ctx.tree, 'completed', {'progress', '1.0000'})
end
redis.call('SPUBLISH', ctx.channel, ctx.tree)
return 'OK'
