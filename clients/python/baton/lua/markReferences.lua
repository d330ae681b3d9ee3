-- markReferences.lua — records that copies or links were made from tasks of this tree
-- (has_references=1). The only change a copy, link or mixed operation makes to its source, and
-- the only one an archived tree accepts. Tasks that do not exist are skipped. No event: the
-- tasks' states do not change.
--
-- KEYS[1] <ns>:{t:<tree>}:tree (task keys derive from it, same tag)
-- ARGV[1..] task ids
-- Returns the number of tasks marked.
-- Refuses before writing: BATON conflict when the key of a given task exists and is not a hash.
local prefix = string.sub(KEYS[1], 1, -5) .. 'task:'
local marked = {}
for i = 1, #ARGV do
  local key = prefix .. ARGV[i]
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'hash' then
    marked[#marked + 1] = key
  elseif kind ~= 'none' then
    return redis.error_reply("BATON conflict Task '" .. ARGV[i] .. "': its key holds a " .. kind .. ', not a hash')
  end
end
for _, key in ipairs(marked) do redis.call('HSET', key, 'has_references', '1') end
return #marked
