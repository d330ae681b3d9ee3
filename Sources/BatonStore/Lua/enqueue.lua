-- enqueue.lua — on one executor type's queue shard: ends attempts (drops their leases and cancel
-- requests, frees their concurrency slots), then puts ready tasks in the queue and wakes its
-- agents, then (an agent applying its own report) claims up to `c` of the best ready tasks as
-- claimQueue.lua does, within the shard's limits. One script, so a task handed back and queued
-- again can never be claimed before its old lease is gone: the old attempt's ZREM would
-- otherwise remove the new claim's lease (same member).
-- Score = priority * 2^32 + fair tag (queue.lua): strict priority; within one, round-robin
-- across users by weight, first ready first taken for one user.
-- Replays are harmless: a member already queued keeps its entry and its place (ZADD NX), and a
-- member still leased (claimed, not ended here) or held is not queued again — a replayed report
-- would otherwise let a second agent claim a task the first is starting.
--
-- KEYS[1] <ns>:{q:<executor>}:ready (the shard's other keys are derived from it, queue.lua)
-- ARGV[1] d = number of ended attempts, ARGV[2] c = tasks to claim (0: none), ARGV[3] now (epoch
-- ms), ARGV[4] lease length (ms), ARGV[5..d+4] the ended attempts' members ('<tree>\t<task>'),
-- then groups of 4: priority, user, concurrency key ('' for none), member to queue
-- Returns {members queued, claimed member…} (claimed best first, each now leased).
-- Refuses before writing: BATON conflict when a key it writes holds another type (queue.lua);
-- BATON invalid_argument for a malformed ARGV.
local d, c, now, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if not d or d < 0 or not c or c < 0 or c ~= math.floor(c) or not now or not lease
  or (#ARGV - 4 - d) < 0 or (#ARGV - 4 - d) % 4 ~= 0 then
  return redis.error_reply('BATON invalid_argument Malformed enqueue arguments')
end
local keyed = false
for at = d + 7, #ARGV, 4 do if ARGV[at] ~= '' then keyed = true; break end end
local adm = queue_check_admitting({'cancels'}, keyed)

-- Everything checked.
if d > 0 then end_attempts({unpack(ARGV, 5, d + 4)}) end
local items = {}
for at = d + 5, #ARGV, 4 do items[#items + 1] = {ARGV[at], ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]} end
local out = {0}
for first = 1, #items, 1000 do out[1] = out[1] + queue_ready(adm, {unpack(items, first, math.min(first + 999, #items))}) end
if c > 0 then
  for _, member in ipairs(claim(adm, now, lease, c)) do out[#out + 1] = member end
end
queue_mark(adm)
return out
