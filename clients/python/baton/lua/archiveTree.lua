-- archiveTree.lua — archives a fully completed tree in place (SPEC "Copy, link, archive, mixed"):
-- same ids, every task's origin_type becomes `archive`, the tree record gets archived=1 and
-- origin_type=archive. From then on every write script refuses the tree's tasks with
-- 'Archived task X is immutable; copy it before editing' (startTree, cancelTasks, reexecuteTask;
-- startTasks drops them; only markReferences may still set has_references).
-- Link nodes are materialised: the caller read their originals' data (in the same call, just
-- before) and passes it here, so an archived tree holds all its data itself.
-- Archiving an archived tree changes nothing.
--
-- A big tree is archived in slices of ranks in `tasks`, one call each, so no call holds Redis
-- long: the first call checks the tree and marks it archived at once (from then on it is
-- immutable, and reads say archived) and `archiving`; each call turns its slice's tasks into
-- archive tasks; the last one drops `archiving` and emits tree_archived. A tree still
-- `archiving` (an archive that was interrupted) is finished by the next archive call.
--
-- KEYS[1..3], ARGV[1..4] as in include.lua.
-- ARGV[5] '1' to check the owner, '0' for an admin     ARGV[6] the caller's user id
-- ARGV[7], ARGV[8] the first and last rank of the slice ('0', '-1': every task)
-- ARGV[9] '1' when this is the last slice
-- ARGV[10..] link nodes of the slice to materialise: id, field count k, k field/value pairs
-- Returns 'OK'.
-- Errors: BATON not_found (missing or another user's), BATON conflict (not fully completed; a key
--   of the tree of the wrong type, see tree_context; the key of a task of `tasks` or of a link
--   node exists and is not a hash), BATON invalid_argument (malformed link node list).
-- Every refusal comes before the first write. A task of `tasks` or a link node whose key is
-- missing is skipped (no hash is created for it).
-- Emits tree_archived (task_id = the tree id, status completed).
local ctx = tree_context()
if not ctx.exists or (ARGV[5] == '1' and (ctx.user_id or '') ~= ARGV[6]) then
  return baton_fail('not_found', 'Task tree ' .. ctx.tree .. ' not found')
end
local resuming = ctx.archived and redis.call('HGET', ctx.tree_key, 'archiving') == '1'
if ctx.archived and not resuming then return 'OK' end
if not ctx.archived and (ctx.count.n_total == 0 or ctx.count.n_completed ~= ctx.count.n_total) then
  return baton_fail('conflict', 'Only a fully completed task tree can be archived')
end
local first, last = tonumber(ARGV[7]), tonumber(ARGV[8])
if not first or not last then return baton_fail('invalid_argument', 'Malformed archive ranks') end

-- Check: the link nodes to materialise, then every task of the slice.
local links = {}
local i = 10
while i <= #ARGV do
  local id, k = ARGV[i], tonumber(ARGV[i + 1])
  if not k or k < 0 or i + 1 + 2 * k > #ARGV then
    return baton_fail('invalid_argument', 'The link nodes to archive are malformed')
  end
  if require_task(ctx, id) then links[#links + 1] = {id, i + 2, k} end
  i = i + 2 + 2 * k
end
local tasks = {}
for _, id in ipairs(redis.call('ZRANGE', ctx.tasks_key, first, last)) do
  if require_task(ctx, id) then tasks[#tasks + 1] = id end
end

-- Write.
if not ctx.archived then
  redis.call('HSET', ctx.tree_key, 'archived', '1', 'archiving', '1', 'origin_type', 'archive', 'updated_at', ctx.now)
  -- An archived tree is kept until it is deleted: it no longer expires.
  redis.call('HDEL', ctx.tree_key, 'expires_at')
end
for _, link in ipairs(links) do
  local key = task_key(ctx, link[1])
  local hset = {'HSET', key}
  for j = link[2], link[2] + 2 * link[3] - 1 do hset[#hset + 1] = ARGV[j] end
  if #hset > 2 then redis.call(unpack(hset)) end
  redis.call('HDEL', key, 'link_tree', 'link_result')
end
for _, id in ipairs(tasks) do
  redis.call('HSET', task_key(ctx, id), 'origin_type', 'archive', 'updated_at', ctx.now)
end
if ARGV[9] ~= '1' then return 'OK' end
redis.call('HDEL', ctx.tree_key, 'archiving')
emit(ctx, 'tree_archived', ctx.tree, 'completed')
tree_outputs(ctx)
return 'OK'
