-- deleteTree.lua — deletes a tree in two steps, so that a crash at any point leaves a tree the
-- next attempt (or the retention sweep) finishes deleting:
--   1. ARGV[5] 'expired' (the retention sweep: only a finished, unarchived tree whose expires_at
--      has passed) or 'finished' (DELETE /v1/trees/{id}: a finished or archived tree) checks the
--      tree and marks it `deleting`;
--   2. ARGV[5] 'continue' deletes the first ARGV[6] task keys (by rank in `tasks`) per call, then
--      the tree's own keys. Before each call the caller reads those ids (ZRANGE 0 ARGV[6]-1) and
--      removes their id index entries, so an entry never outlives its task's key for long and a
--      crash leaves entries whose keys still exist, for the next attempt.
-- A tree already marked `deleting` skips step 1's checks (a deletion that was interrupted).
-- ARGV[5] 'staged' removes a tree that submitTree.lua staged under the token ARGV[7] and never
-- committed (a failed or abandoned big submission): up to ARGV[6] task keys per call ('MORE'),
-- then its own keys ('DONE'; at once when nothing is staged under that token). Nothing indexes
-- a staged tree but its id reservations, which the caller gives back.
--
-- KEYS[1..3], ARGV[1..4] as in include.lua.   ARGV[6] how many task keys one call may delete.
-- Returns 'MARKED' (step 1), 'MORE' or 'DONE' (step 2), 'DONE' when the tree does not exist.
-- Refuses before writing: BATON conflict when a key of the tree has the wrong type (tree_context),
--   when the tree still runs or waits (the caller answers 409), for 'expired' when it is not due
--   (re-executed, archived, its expiry moved), and for 'continue' when step 1 did not run; a
--   staging tree is not_found to every mode but 'staged'.
local ctx = tree_context(true)
local mode, batch = ARGV[5], tonumber(ARGV[6])
if not batch or batch < 1 then return baton_fail('invalid_argument', 'Malformed delete batch') end

-- Deletes up to `batch` task keys, then, once none is left, the tree's own keys.
local function delete_some()
  local ids = redis.call('ZRANGE', ctx.tasks_key, 0, batch - 1)
  if #ids > 0 then
    local keys = {}
    for i, id in ipairs(ids) do keys[i] = task_key(ctx, id) end
    redis.call('DEL', unpack(keys))
    redis.call('ZREM', ctx.tasks_key, unpack(ids))
  end
  if redis.call('ZCARD', ctx.tasks_key) > 0 then return 'MORE' end
  redis.call('DEL', ctx.tasks_key, ctx.events_key, ctx.tree_key)
  return 'DONE'
end

if mode == 'staged' then
  -- Nothing staged under this token (none at all, another submission's, or a committed tree).
  if ctx.status ~= 'staging' or redis.call('HGET', ctx.tree_key, 'token') ~= ARGV[7] then return 'DONE' end
  return delete_some()
end
if ctx.status == 'staging' then return baton_fail('not_found', 'Task tree ' .. ctx.tree .. ' not found') end
if not ctx.exists then
  redis.call('DEL', ctx.tasks_key, ctx.events_key)
  return 'DONE'
end
local t = redis.call('HMGET', ctx.tree_key, 'deleting', 'expires_at')
local deleting = t[1] == '1'

if mode == 'continue' then
  if not deleting then return baton_fail('conflict', 'Task tree ' .. ctx.tree .. ' is not being deleted') end
  return delete_some()
end

if not deleting then
  local finished = ctx.status == 'completed' or ctx.status == 'failed' or ctx.status == 'cancelled'
  if mode == 'expired' then
    local expires = tonumber(t[2])
    if not finished or ctx.archived or not expires or expires > tonumber(ctx.now) then
      return baton_fail('conflict', 'Task tree ' .. ctx.tree .. ' is not due for deletion')
    end
  elseif mode == 'finished' then
    if not finished and not ctx.archived then
      return baton_fail('conflict', 'Task tree ' .. ctx.tree .. ' is ' .. (ctx.status or 'pending')
        .. ': only a finished tree can be deleted (cancel it first, or DELETE with ?cancel=true)')
    end
  else
    return baton_fail('invalid_argument', 'Unknown delete mode ' .. tostring(mode))
  end
  redis.call('HSET', ctx.tree_key, 'deleting', '1')
end
return 'MARKED'
