-- claimQueue.lua — an agent takes up to `count` of the best ready tasks of an executor type and
-- holds each with a lease, within the shard's limits (queue.lua `claim`: max_running,
-- max_running_per_key). Leaves the wake-up marker set while work an agent may take remains, so
-- the next waiting agent wakes too.
--
-- KEYS[1] <ns>:{q:<executor>}:ready   KEYS[2] …:marker   KEYS[3] …:leases (the other keys are
-- derived from KEYS[1], queue.lua)
-- ARGV[1] now (epoch ms)   ARGV[2] lease length (ms)   ARGV[3] count
-- Returns the claimed members ('<tree>\t<task>'), best first; then, when a rate limit holds
-- work back, '@<epoch ms>': when the next task is due (queue.lua `next_due`).
-- Refuses before writing: BATON conflict when a key it writes holds another type;
-- BATON invalid_argument for a malformed ARGV.
local now, lease, count = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if not now or not lease or not count or count < 1 or count ~= math.floor(count) then
  return redis.error_reply('BATON invalid_argument Malformed claim arguments')
end
local adm = queue_check_admitting({}, false)
local members = claim(adm, now, lease, count)
queue_mark(adm)
local due = next_due(adm)
if due then members[#members + 1] = due end
return members
