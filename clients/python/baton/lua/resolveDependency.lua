-- resolveDependency.lua — tasks of this tree learn that a dependency in ANOTHER tree reached a
-- state (completed, failed, cancelled or blocked). The dependency's status and result are kept
-- in the dependent as xs:<dep> / xr:<dep> (read at release time for the result merge).
-- Idempotent per (task, dependency). A task that does not exist is skipped (nothing is written
-- for it).
--
-- KEYS[1..3], ARGV[1..4] as in include.lua.
-- ARGV[5..] groups of 6: task id, dependency id, required '1'/'0', state, result JSON, cause
-- Returns the tree outputs {released, delayed, leases, notify, finished}.
-- Refuses the whole call before writing: BATON conflict when a key of the tree has the wrong type
-- (tree_context) or the key of a named task exists and is not a hash.
-- Emits task_blocked, tree_finished.
local ctx = tree_context()
local exists = {}
for i = 5, #ARGV, 6 do exists[ARGV[i]] = require_task(ctx, ARGV[i]) end

for i = 5, #ARGV, 6 do
  local id, dep, required, state, result, cause = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local key = task_key(ctx, id)
  if exists[id] and redis.call('HSETNX', key, 'xs:' .. dep, state) == 1 then
    redis.call('HSET', key, 'xr:' .. dep, result)
    local blocked = resolve_one(ctx, id, required == '1', state, cause)
    if blocked then settle(ctx, blocked, 'blocked', cause) end
  end
end
return tree_outputs(ctx)
