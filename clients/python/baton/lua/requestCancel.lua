-- requestCancel.lua — signals the agents of an executor type that running attempts must stop.
-- Runs after cancelTasks.lua marked the tasks (cancel_requested_at): the durable truth is there.
-- For each task still holding a lease, the request is kept in the queue's `cancels` hash (read by
-- every agent heartbeat, so a lost pub/sub message still cancels) and published as a nudge.
-- A task whose lease is already gone has ended (or was never claimed): nothing is kept for it.
-- The entries are removed when the attempt's lease is dropped (BatonStore.dispatch); an entry
-- left behind names an old attempt and is ignored by agents, which compare attempts.
--
-- KEYS[1] <ns>:{q:<executor>}:leases    KEYS[2] <ns>:{q:<executor>}:cancels
-- ARGV[1] the cancel channel ('' to keep the request without publishing it)
-- ARGV[2..] pairs: member ('<tree>\t<task>'), attempt
-- Returns how many of the tasks still hold a lease: their agents are told (by the message, or by
-- their next heartbeat, which reads `cancels`). Not PUBLISH's receiver count: on Redis Cluster it
-- counts only the subscribers connected to this node.
-- Refuses before writing: BATON conflict when leases is not a sorted set or cancels not a hash.
for i, kind in ipairs({'zset', 'hash'}) do
  local found = redis.call('TYPE', KEYS[i])['ok']
  if found ~= kind and found ~= 'none' then
    return redis.error_reply('BATON conflict Queue key ' .. KEYS[i] .. ' holds a ' .. found .. ', not a ' .. kind)
  end
end
local leased = 0
for i = 2, #ARGV, 2 do
  local member, attempt = ARGV[i], ARGV[i + 1]
  if redis.call('ZSCORE', KEYS[1], member) then
    leased = leased + 1
    redis.call('HSET', KEYS[2], member, attempt)
    if ARGV[1] ~= '' then
      redis.call('SPUBLISH', ARGV[1], member .. '\t' .. attempt)
    end
  end
end
return leased
