-- markReferences.lua — records that copies or links were made from tasks of this tree
-- (has_references=1). The only change a copy, link or mixed operation makes to its source, and
-- the only one an archived tree accepts. Tasks that do not exist are skipped. No event: the
-- tasks' states do not change.
--
-- KEYS[1] <ns>:{t:<tree>}:tree (task keys derive from it, same tag)
-- ARGV[1..] task ids
-- Returns the number of tasks marked.
local prefix = string.sub(KEYS[1], 1, -5) .. 'task:'
local marked = 0
for i = 1, #ARGV do
  local key = prefix .. ARGV[i]
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'has_references', '1')
    marked = marked + 1
  end
end
return marked
