-- include.lua — helpers shared by every tree-scoped script. The loader prepends this file to
-- each tree script, so a script is one self-contained EVALSHA body.
--
-- Tree scripts share the first keys and arguments:
--   KEYS[1] <ns>:{t:<tree>}:tree     tree record (hash); task keys are derived from it by
--                                     replacing the trailing "tree" with "task:<id>" (same tag)
--   KEYS[2] <ns>:{t:<tree>}:tasks    task ids by submission order (zset)
--   KEYS[3] <ns>:{t:<tree>}:events   event log (stream)
--   ARGV[1] now (epoch ms, from the caller's clock)
--   ARGV[2] event stream bound (MAXLEN ~)
--   ARGV[3] pub/sub channel nudged when events were written
--   ARGV[4] tree id
-- Outputs (see `tree_outputs`) tell the caller what crosses slots: tasks to enqueue, retries to
-- delay, leases to drop, cross-tree dependents to notify, and whether the tree finished:
--   {released: executor, priority, id, user, key ...;  delayed: executor, priority, id, due, user, key ...;
--    leases: executor, id ...;  notify: tree, id, required, dep, state, result, cause ...;
--    finished: tree status or '';  expires_at: when the finished tree expires, or ''}
--
-- Refusing before writing. Redis does not roll back a script that fails after a write, so every
-- script checks all it needs before its first write, and an error reply means no key changed:
-- `tree_context` checks KEYS[1..3] (the tree record a hash, `tasks` a sorted set, `events` a
-- stream, each may be missing; `events` not at its last possible id), and each script then checks
-- existence, owner and archive state, and the type of every task key its ARGV names
-- (`require_type`). A refusal is `refuse(code, message)`: the reply `BATON <code> <message>`.
-- After the first write nothing can fail:
--   * every key a script writes was checked, except task keys found in stored records (a
--     `dependents` line, a dependency list): those are read with `read_task` (redis.pcall), a key
--     that is not a hash reads as a missing task, and a missing task is never written (every
--     write to such a task follows a read that found it pending);
--   * XADD with `*` fails only on a stream at its last possible id; tree_context refuses a
--     stream holding an entry with that id (one XRANGE). Not detected: a stream moved there by
--     hand with XSETID and no entry left at it (only XINFO STREAM tells, and it copies the first
--     and last entries, milliseconds per call with large results); Baton never writes explicit ids;
--   * Redis refuses a script for lack of memory (maxmemory) only before its first write;
--   * loops that unpack lists do it in chunks of at most 1000 (Lua's C stack holds ~8000);
--   * the values parsed here (`dependencies`, `inputs`, `backoff`) are Baton's own: written by
--     the Swift store from validated submissions, or by release() below. One residue: release()
--     splices dependency results into `inputs` verbatim, so a result that is not JSON (a report
--     written to the bus by hand) can make a later split of those inputs raise after a write.

local COUNTERS = {'n_total', 'n_pending', 'n_in_progress', 'n_completed', 'n_failed', 'n_cancelled', 'n_blocked'}

local function baton_fail(code, message)
  return redis.error_reply('BATON ' .. code .. ' ' .. message)
end

-- Stops the script with the coded error `BATON <code> <message>`. Only before the first write.
local function refuse(code, message)
  error({err = 'BATON ' .. code .. ' ' .. message})
end

-- Refuses (conflict) unless `key` holds a `kind` ('hash', 'zset', 'stream', 'string'), or is
-- missing when `allow_missing`; a missing key otherwise is not_found. `what` names the thing
-- stored there in the message. Returns whether the key exists.
local function require_type(key, kind, allow_missing, what)
  local found = redis.call('TYPE', key)['ok']
  if found == kind then return true end
  if found == 'none' then
    if allow_missing then return false end
    refuse('not_found', what .. ' not found')
  end
  refuse('conflict', what .. ': its key holds a ' .. found .. ', not a ' .. kind)
end

-- A reply of redis.pcall on `key`, refused (conflict) when it is an error: the key holds
-- another type than `kind`. Saves the TYPE call where a read is needed anyway.
local function checked(reply, key, kind, what)
  if type(reply) == 'table' and reply['err'] then
    refuse('conflict', what .. ': its key holds a ' .. redis.call('TYPE', key)['ok'] .. ', not a ' .. kind)
  end
  return reply
end

-- The last stream id there is: XADD with `*` fails on a stream whose last id is this one.
local LAST_STREAM_ID = '18446744073709551615-18446744073709551615'

-- Reads and checks the tree's first keys. A tree in status `staging` (submitTree.lua writing a
-- big tree in slices) does not exist for any script but those that pass `allow_staging`.
local function tree_context(allow_staging)
  local ctx = {
    tree_key = KEYS[1], tasks_key = KEYS[2], events_key = KEYS[3],
    prefix = string.sub(KEYS[1], 1, -5) .. 'task:',
    now = ARGV[1], maxlen = ARGV[2], channel = ARGV[3], tree = ARGV[4],
    delta = {}, progress_delta = 0, emitted = false,
    released = {}, delayed = {}, leases = {}, notify = {}, finished = false,
  }
  local fields = {'started', 'status', 'archived', 'progress_sum', 'user_id'}
  for i = 1, #COUNTERS do fields[#fields + 1] = COUNTERS[i] end
  local values = checked(redis.pcall('HMGET', ctx.tree_key, unpack(fields)), ctx.tree_key, 'hash',
    "Task tree '" .. ctx.tree .. "'")
  require_type(ctx.tasks_key, 'zset', true, "The task list of tree '" .. ctx.tree .. "'")
  local events = "The event stream of tree '" .. ctx.tree .. "'"
  local last = checked(redis.pcall('XRANGE', ctx.events_key, LAST_STREAM_ID, '+', 'COUNT', 1), ctx.events_key, 'stream', events)
  if #last > 0 then refuse('conflict', events .. ' is at its last possible id') end
  if values[2] == 'staging' and not allow_staging then refuse('not_found', "Task tree '" .. ctx.tree .. "' not found") end
  ctx.exists = values[1] ~= false
  ctx.started = values[1] == '1'
  ctx.status = values[2]
  ctx.archived = values[3] == '1'
  ctx.progress_sum = tonumber(values[4]) or 0
  ctx.user_id = values[5]
  ctx.count = {}
  for i = 1, #COUNTERS do ctx.count[COUNTERS[i]] = tonumber(values[5 + i]) or 0 end
  return ctx
end

local function task_key(ctx, id) return ctx.prefix .. id end

-- Records a task for the caller to put in its executor's ready queue, with what the queue's
-- admission needs: the tree's user (fairness) and the task's concurrency key ('' for none).
local function add_ready(ctx, executor, priority, id, key)
  local r = ctx.released
  r[#r + 1] = executor; r[#r + 1] = priority; r[#r + 1] = id
  r[#r + 1] = ctx.user_id or ''; r[#r + 1] = key or ''
end

-- Records a retry for the caller to park in its executor's delayed set until `due` (epoch ms).
local function add_delayed(ctx, executor, priority, id, due, key)
  local d = ctx.delayed
  d[#d + 1] = executor; d[#d + 1] = priority; d[#d + 1] = id; d[#d + 1] = due
  d[#d + 1] = ctx.user_id or ''; d[#d + 1] = key or ''
end

-- Fields of a task found in a stored record, read without raising: a key that is not a hash is
-- not a Baton task and reads as missing (every field nil).
local function read_task(ctx, id, ...)
  local f = redis.pcall('HMGET', task_key(ctx, id), ...)
  if f['err'] then return {} end
  return f
end

-- Refuses (conflict) when the key of task `id` exists and is not a hash. Returns whether it exists.
local function require_task(ctx, id)
  return require_type(task_key(ctx, id), 'hash', true, "Task '" .. id .. "'")
end

local function bump(ctx, counter, by)
  ctx.delta[counter] = (ctx.delta[counter] or 0) + by
  ctx.count[counter] = ctx.count[counter] + by
end

-- Appends one event to the tree's stream. `extra` is a flat list of field, value.
local function emit(ctx, etype, id, status, extra)
  local args = {'XADD', ctx.events_key, 'MAXLEN', '~', ctx.maxlen, '*',
    'type', etype, 'tree_id', ctx.tree, 'task_id', id, 'status', status, 'timestamp', ctx.now}
  if extra then for i = 1, #extra do args[#args + 1] = extra[i] end end
  redis.call(unpack(args))
  ctx.emitted = true
end

-- Lines of a newline-separated field ("Rid\nOid" for dependents).
local function lines(text)
  local out = {}
  if text and text ~= '' then
    for line in string.gmatch(text, '[^\n]+') do out[#out + 1] = line end
  end
  return out
end

-- JSON object splicing without decoding values (cjson would turn [] into {} and lose
-- integer/float distinctions). Stored JSON is compact: Swift writes it.
local function json_string_end(s, i)
  local j = i + 1
  while true do
    local c = string.find(s, '["\\]', j)
    if not c then error('malformed JSON string') end
    if string.sub(s, c, c) == '\\' then j = c + 2 else return c + 1 end
  end
end

local function json_value_end(s, i)
  local ch = string.sub(s, i, i)
  if ch == '"' then return json_string_end(s, i) end
  if ch == '{' or ch == '[' then
    local depth, j = 0, i
    while true do
      local c = string.find(s, '[%[%]{}"]', j)
      if not c then error('malformed JSON value') end
      local x = string.sub(s, c, c)
      if x == '"' then j = json_string_end(s, c)
      elseif x == '{' or x == '[' then depth = depth + 1; j = c + 1
      else
        depth = depth - 1; j = c + 1
        if depth == 0 then return j end
      end
    end
  end
  return string.find(s, '[,}%]]', i) or (#s + 1)
end

-- Top-level members of a compact JSON object: list of {decoded key, raw "key":value text}.
local function json_members(s)
  local out = {}
  if not s or string.sub(s, 1, 1) ~= '{' or s == '{}' then return out end
  local i = 2
  while true do
    local key_end = json_string_end(s, i)
    local value_end = json_value_end(s, key_end + 1)
    out[#out + 1] = {cjson.decode(string.sub(s, i, key_end - 1)), string.sub(s, i, value_end - 1)}
    if string.sub(s, value_end, value_end) ~= ',' then return out end
    i = value_end + 1
  end
end

-- SPEC "Result merge": inputs[dep] = dep.result for completed deps in list order, overwriting a
-- declared input; a dependency that did not complete removes its key.
local function merged_inputs(inputs, contributions)
  local touched = {}
  for i = 1, #contributions do touched[contributions[i][1]] = true end
  local parts = {}
  for _, member in ipairs(json_members(inputs)) do
    if not touched[member[1]] then parts[#parts + 1] = member[2] end
  end
  for i = 1, #contributions do
    local c = contributions[i]
    if c[2] then parts[#parts + 1] = cjson.encode(c[1]) .. ':' .. c[2] end
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- The dependency list of a task as {id, required} pairs (ids and booleans only: safe for cjson).
local function dependency_list(text)
  local out = {}
  if not text or text == '' or text == '[]' then return out end
  for _, d in ipairs(cjson.decode(text)) do out[#out + 1] = {d.id, d.required ~= false} end
  return out
end

-- Marks a pending task whose dependencies all resolved as queued, with merged inputs, and
-- records it for the caller to put in its executor's ready queue. `id` was read as a pending
-- task, so its key is a hash; its dependencies are read with read_task (a dependency in another
-- tree has no key here, or a foreign one).
local function release(ctx, id)
  local key = task_key(ctx, id)
  local f = redis.call('HMGET', key, 'dependencies', 'inputs', 'executor', 'priority', 'concurrency_key')
  local contributions = {}
  for _, dep in ipairs(dependency_list(f[1])) do
    local dep_id = dep[1]
    -- In-tree dependencies are read where they live; cross-tree ones were copied into this
    -- task as xs:<dep> / xr:<dep> by resolveDependency.lua. A link node holds no result of its
    -- own: its original's result was copied into it as link_result when it was made.
    local d = read_task(ctx, dep_id, 'status', 'result', 'link_result')
    local status, result = d[1], d[2] or d[3]
    if not status then
      d = redis.call('HMGET', key, 'xs:' .. dep_id, 'xr:' .. dep_id)
      status, result = d[1], d[2]
    end
    if status == 'completed' then
      contributions[#contributions + 1] = {dep_id, result or 'null'}
    else
      contributions[#contributions + 1] = {dep_id, false}
    end
  end
  local inputs = f[2] or '{}'
  if #contributions > 0 then inputs = merged_inputs(inputs, contributions) end
  redis.call('HSET', key, 'inputs', inputs, 'queued', '1', 'waiting', '0', 'updated_at', ctx.now)
  add_ready(ctx, f[3], f[4], id, f[5])
end

-- One dependency of pending task `id` reached `state` (completed, failed, cancelled, blocked).
-- Returns the task to block next, if the dependency was required and did not complete.
local function resolve_one(ctx, id, required, state, cause)
  local key = task_key(ctx, id)
  local f = read_task(ctx, id, 'status', 'blocked_by', 'waiting')
  if f[1] ~= 'pending' or f[2] then return nil end
  if state == 'completed' or not required then
    local waiting = (tonumber(f[3]) or 1) - 1
    if waiting <= 0 and ctx.started then
      release(ctx, id)
    else
      redis.call('HSET', key, 'waiting', tostring(math.max(waiting, 0)))
    end
    return nil
  end
  redis.call('HSET', key, 'blocked_by', cause, 'updated_at', ctx.now)
  bump(ctx, 'n_blocked', 1)
  emit(ctx, 'task_blocked', id, 'pending', {'blocked_by', cause})
  return id
end

-- Collects, for the caller to pass on (resolveDependency.lua), that task `id` reached `state`
-- for each of its dependents in other trees (`xdependents`: lines 'R'|'O' .. tree .. '\t' .. task).
local function notify_dependents(ctx, xdependents, id, state, result, cause)
  for _, line in ipairs(lines(xdependents)) do
    local tab = string.find(line, '\t', 1, true)
    local n = ctx.notify
    n[#n + 1] = string.sub(line, 2, tab - 1); n[#n + 1] = string.sub(line, tab + 1)
    n[#n + 1] = (string.sub(line, 1, 1) == 'R') and '1' or '0'
    n[#n + 1] = id; n[#n + 1] = state
    n[#n + 1] = (state == 'completed' and result) or 'null'; n[#n + 1] = cause
  end
end

-- Task `id` reached `state`: resolve its dependents in this tree (blocking transitively where a
-- required dependency did not complete) and collect its dependents in other trees.
-- `known` may hold the task's {dependents, xdependents, result} when the caller already read them.
local function settle(ctx, id, state, cause, known)
  local stack = {{id, state, cause}}
  while #stack > 0 do
    local top = table.remove(stack)
    local f = known
    known = nil
    if not f then f = read_task(ctx, top[1], 'dependents', 'xdependents', 'result') end
    for _, line in ipairs(lines(f[1])) do
      local blocked = resolve_one(ctx, string.sub(line, 2), string.sub(line, 1, 1) == 'R', top[2], top[3])
      if blocked then stack[#stack + 1] = {blocked, 'blocked', top[3]} end
    end
    notify_dependents(ctx, f[2], top[1], top[2], f[3], top[3])
  end
end

-- A tree is finished when nothing runs and no pending task can still become ready.
local function check_finished(ctx)
  local c = ctx.count
  if not ctx.started or ctx.status == 'completed' or ctx.status == 'failed' or ctx.status == 'cancelled' then return end
  if c.n_in_progress > 0 or c.n_pending > c.n_blocked then return end
  local status = 'completed'
  if c.n_completed < c.n_total then
    if c.n_failed > 0 then status = 'failed'
    elseif c.n_cancelled > 0 then status = 'cancelled'
    else status = 'failed' end
  end
  local progress = 0
  if c.n_total > 0 then progress = (ctx.progress_sum + ctx.progress_delta) / c.n_total end
  redis.call('HSET', ctx.tree_key, 'status', status, 'finished_at', ctx.now, 'updated_at', ctx.now)
  -- Retention: a finished tree expires retention_ms after it finished (set at submission; an
  -- archived tree never expires). The caller indexes the expiry for the scheduler's sweep.
  local t = redis.call('HMGET', ctx.tree_key, 'retention_ms', 'archived')
  local retention = tonumber(t[1])
  if retention and retention >= 0 and t[2] ~= '1' then
    ctx.expires_at = tostring(tonumber(ctx.now) + retention)
    redis.call('HSET', ctx.tree_key, 'expires_at', ctx.expires_at)
  end
  ctx.status = status
  emit(ctx, 'tree_finished', ctx.tree, status, {'progress', string.format('%.4f', progress)})
  ctx.finished = status
end

-- Writes counters, nudges subscribers and returns the outputs as nested arrays.
local function tree_outputs(ctx)
  check_finished(ctx)
  -- One HSET of the new values (read at the start of this same script, so absolute is safe).
  local counters = {}
  for counter, by in pairs(ctx.delta) do
    if by ~= 0 then
      counters[#counters + 1] = counter
      counters[#counters + 1] = ctx.count[counter]
    end
  end
  if ctx.progress_delta ~= 0 then
    counters[#counters + 1] = 'progress_sum'
    counters[#counters + 1] = string.format('%.14g', ctx.progress_sum + ctx.progress_delta)
  end
  if #counters > 0 then redis.call('HSET', ctx.tree_key, unpack(counters)) end
  if ctx.emitted then redis.call('SPUBLISH', ctx.channel, ctx.tree) end
  return {ctx.released, ctx.delayed, ctx.leases, ctx.notify, ctx.finished or '', ctx.expires_at or ''}
end
