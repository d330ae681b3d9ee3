-- queue.lua — admission helpers shared by the queue scripts. The loader prepends this file to
-- each queue script (as it prepends include.lua to the tree scripts).
--
-- Every key of a queue shard shares the tag of KEYS[1] (<ns>:{q:<executor>[:<shard>]}:<name>);
-- the keys below are derived from it:
--   ready       zset  member '<tree>\t<task>', score priority * 2^32 + fair tag (Fairness below)
--   seq         string the sequence of the scores before fairness (read once to seed `fair`)
--   marker      zset  '1' while agents should look at ready
--   leases      zset  member -> lease expiry (epoch ms): the shard's running (and claimed) tasks
--   cancels     hash  member -> attempt whose cancellation was requested
--   delayed     zset  '<priority>\t<user>\t<key>\t<member>' -> due (epoch ms); an older entry is
--                     '<priority>\t<member>'
--   admission   hash  the limits the schedulers publish from the configuration (admitQueue.lua):
--                     max_running, max_running_per_key, w:<user> (fairness weight, default 1),
--                     rate_ms / rate_burst and key_rate_ms / key_rate_burst (rate limits: one
--                     task per rate_ms, up to burst at once); the type's rate state: tat; and the
--                     count of claims a limit held back: throttled
--   fair        hash  v<p>: the virtual time of priority p (the tag last claimed);
--                     <p>\t<user>: the tag the user's next task at priority p starts from
--   ckeys       hash  member -> its concurrency key, while the task is queued, held or leased
--   keyuse      hash  key -> leased tasks of that key (every leased member with a key counts)
--   held:<key>  zset  tasks of `key` taken out of ready while the key was at its limit (their
--                     ready scores): the attempt that frees a slot of the key moves the best back
--   heldkeys    set   the keys that have tasks held
--   keytat      hash  key -> the key's rate state (its theoretical arrival time, epoch ms)
--   keydue      zset  key -> when a task held by the key's rate limit may run (epoch ms)
--
-- Rate limits (GCRA): a claim at `now` may take a task while tat - now <= (burst - 1) * rate_ms,
-- where tat = max(tat, now); each task taken adds rate_ms to tat. A claim the type's rate stops
-- answers when half the burst may start ('@<epoch ms>' after the members), so agents wake then;
-- a task its key's rate stops is held like one its key's max_running_per_key stops, and comes
-- back to ready (keydue) when its key's next task is due.
--
-- Fairness (start-time fair queueing): within a priority, a task's tag is
-- max(virtual time, its user's next tag); each task of a user advances the user's next tag by
-- 1 / weight, and each claim moves the virtual time to the claimed tag. Claims in score order
-- therefore go round-robin across users in proportion to their weights, and a user who had
-- nothing queued starts at the virtual time: behind at most one task of every other user.
-- Tags stay below 2^32 for about four billion claims of a shard (as the sequence did).
--
-- Refusing before writing: `queue_check` / `queue_check_admitting` check the type of every
-- derived key a script writes (those of features not in use are not touched); a held:<key> is
-- checked before a claim writes it.

local QPREFIX = string.match(KEYS[1], '^(.*:)[^:]*$')
local Q = {}
for _, name in ipairs({'ready', 'seq', 'marker', 'leases', 'cancels', 'delayed', 'admission', 'fair',
  'ckeys', 'keyuse', 'heldkeys', 'keytat', 'keydue'}) do
  Q[name] = QPREFIX .. name
end
local BAND = 4294967296
local KINDS = {ready = 'zset', marker = 'zset', leases = 'zset', cancels = 'hash', delayed = 'zset',
  admission = 'hash', fair = 'hash', ckeys = 'hash', keyuse = 'hash', heldkeys = 'set',
  keytat = 'hash', keydue = 'zset'}

local function queue_refuse(message) error({err = 'BATON conflict ' .. message}) end

local function queue_require(key, kind)
  local found = redis.call('TYPE', key)['ok']
  if found ~= kind and found ~= 'none' then
    queue_refuse('Queue key ' .. key .. ' holds a ' .. found .. ', not a ' .. kind)
  end
  return found ~= 'none'
end

-- Refuses (conflict) unless each named key of the shard is missing or of its kind; `seq` must
-- hold an integer of at most 15 digits.
local function queue_check(names)
  for _, name in ipairs(names) do
    if name == 'seq' then
      if queue_require(Q.seq, 'string') then
        local value = redis.call('GET', Q.seq)
        if #value > 15 or not (value == '0' or string.match(value, '^-?[1-9]%d*$')) then
          queue_refuse('Queue key ' .. Q.seq .. ' does not hold a sequence number')
        end
      end
    else
      queue_require(Q[name], KINDS[name])
    end
  end
end

local function held_key(key) return QPREFIX .. 'held:' .. key end

-- The shard's admission: {max_running, per_key, rate_ms, rate_burst, tat, key_rate_ms,
-- key_rate_burst} (nil: no such limit), weights read on demand.
local admission

-- Checks the keys an admitting script (enqueue, claimQueue, promoteDelayed) may write: those
-- every such script writes, `names`, and the keys of the features in use (concurrency keys when
-- `keyed` or some are stored; `seq` until the fair state is seeded; a key's rate state while a
-- key rate is set). Returns the admission.
local function queue_check_admitting(names, keyed)
  local list = {'ready', 'marker', 'leases', 'admission', 'fair'}
  for _, name in ipairs(names) do list[#list + 1] = name end
  if redis.call('EXISTS', Q.fair) == 0 then list[#list + 1] = 'seq' end
  if keyed or redis.call('EXISTS', Q.ckeys) == 1 then
    for _, name in ipairs({'ckeys', 'keyuse', 'heldkeys'}) do list[#list + 1] = name end
  end
  queue_check(list)
  local adm = admission()
  if adm.key_rate_ms then queue_check({'keytat', 'keydue'}) end
  return adm
end

-- The tab-separated fields of `text` (empty fields included).
local function split_tabs(text)
  local fields, from = {}, 1
  while true do
    local tab = string.find(text, '\t', from, true)
    if not tab then fields[#fields + 1] = string.sub(text, from); return fields end
    fields[#fields + 1] = string.sub(text, from, tab - 1)
    from = tab + 1
  end
end

local function score_text(score) return string.format('%.17g', score) end

admission = function()
  local a = redis.call('HMGET', Q.admission, 'max_running', 'max_running_per_key', 'rate_ms', 'rate_burst', 'tat',
    'key_rate_ms', 'key_rate_burst')
  local adm = {max_running = tonumber(a[1]), per_key = tonumber(a[2]), rate_ms = tonumber(a[3]),
    rate_burst = tonumber(a[4]) or 1, tat = tonumber(a[5]) or 0, key_rate_ms = tonumber(a[6]),
    key_rate_burst = tonumber(a[7]) or 1, weights = {}}
  if adm.max_running and adm.max_running < 0 then adm.max_running = nil end
  if adm.per_key and adm.per_key < 1 then adm.per_key = nil end
  if adm.rate_ms and adm.rate_ms <= 0 then adm.rate_ms = nil end
  if adm.key_rate_ms and adm.key_rate_ms <= 0 then adm.key_rate_ms = nil end
  return adm
end

-- GCRA: how many tasks may start at `now` given the state `tat`, one per `interval`, `burst`
-- at once; and when the next one may when none can.
local function rate_room(tat, now, interval, burst)
  local t = math.max(tat, now)
  local tokens = math.floor(((burst - 1) * interval - (t - now)) / interval) + 1
  if tokens > 0 then return tokens, nil end
  return 0, t - (burst - 1) * interval
end

-- When agents held back by the type's rate should claim again: once half the burst (at least
-- one task) may start, so that a claim takes several at a time and an agent that wakes a little
-- late loses nothing (tokens pile up to the burst).
local function rate_wake(tat, now, interval, burst)
  local want = math.max(1, math.floor(burst / 2))
  return math.max(tat, now) - (burst - want) * interval
end

-- Fair tags for tasks queued in this call: `fair_tags(adm)` returns a function
-- (priority, user) -> score, and `flush()` writes the users' next tags back.
local function fair_tags(adm)
  local state, virtual, dirty = {}, {}, {}
  local seed
  local function next_score(priority, user)
    local p = math.max(0, math.min(3, math.floor(tonumber(priority) or 2)))
    local v = virtual[p]
    if not v then
      v = tonumber(redis.call('HGET', Q.fair, 'v' .. p))
      if not v then
        if not seed then seed = tonumber(redis.call('GET', Q.seq) or '0') or 0 end
        v = seed
      end
      virtual[p] = v
    end
    local field = p .. '\t' .. user
    local last = state[field]
    if last == nil then last = tonumber(redis.call('HGET', Q.fair, field)) or 0 end
    local weight = adm.weights[user]
    if weight == nil then
      weight = tonumber(redis.call('HGET', Q.admission, 'w:' .. user)) or 1
      if weight <= 0 then weight = 1 end
      adm.weights[user] = weight
    end
    local start = math.max(v, last)
    state[field] = start + 1 / weight
    dirty[field] = true
    return p * BAND + start
  end
  local function flush()
    local fields = {}
    for field in pairs(dirty) do
      fields[#fields + 1] = field
      fields[#fields + 1] = score_text(state[field])
    end
    for p, v in pairs(virtual) do
      fields[#fields + 1] = 'v' .. p
      fields[#fields + 1] = score_text(v)
    end
    -- Seeding writes every priority's virtual time: once the state exists, seq is never read.
    if seed then
      for p = 0, 3 do
        if not virtual[p] then fields[#fields + 1] = 'v' .. p; fields[#fields + 1] = score_text(seed) end
      end
    end
    if #fields > 0 then redis.call('HSET', Q.fair, unpack(fields)) end
  end
  return next_score, flush
end

-- Puts `items` ({priority, user, key, member}, at most 1,000) in ready, each unless it is
-- already queued (it keeps its place), leased (a replay must not queue a task an agent is
-- starting) or held. Returns how many were queued.
local function queue_ready(adm, items)
  if #items == 0 then return 0 end
  local members = {}
  for i, item in ipairs(items) do members[i] = item[4] end
  -- (read before a tag is taken: a replay must not move the user's next tag)
  local queued_now = redis.call('ZMSCORE', Q.ready, unpack(members))
  local leased = redis.call('ZMSCORE', Q.leases, unpack(members))
  local next_score, flush = fair_tags(adm)
  local queued, batch, keyed, held = 0, {}, {}, {}
  local any_held
  for i, item in ipairs(items) do
    local key, member = item[3], item[4]
    local skip = queued_now[i] or leased[i]
    if not skip and key ~= '' and any_held == nil then any_held = redis.call('SCARD', Q.heldkeys) > 0 end
    if not skip and key ~= '' and any_held then
      if held[key] == nil then held[key] = redis.call('EXISTS', held_key(key)) == 1 end
      skip = held[key] and redis.call('ZSCORE', held_key(key), member)
    end
    if not skip then
      batch[#batch + 1] = score_text(next_score(item[1], item[2]))
      batch[#batch + 1] = member
      if key ~= '' then keyed[#keyed + 1] = member; keyed[#keyed + 1] = key end
      queued = queued + 1
    end
  end
  if #batch > 0 then redis.call('ZADD', Q.ready, 'NX', unpack(batch)) end
  if #keyed > 0 then redis.call('HSET', Q.ckeys, unpack(keyed)) end
  flush()
  return queued
end

-- Adds `deltas` (key -> change) to the keys' use: one read and one write for all of them.
local function change_key_use(deltas)
  local names = {}
  for key in pairs(deltas) do names[#names + 1] = key end
  if #names == 0 then return end
  local current = redis.call('HMGET', Q.keyuse, unpack(names))
  local set, gone = {}, {}
  for i, key in ipairs(names) do
    local n = (tonumber(current[i]) or 0) + deltas[key]
    if n > 0 then set[#set + 1] = key; set[#set + 1] = n else gone[#gone + 1] = key end
  end
  if #set > 0 then redis.call('HSET', Q.keyuse, unpack(set)) end
  if #gone > 0 then redis.call('HDEL', Q.keyuse, unpack(gone)) end
end

-- Moves the best task held for `key` back to ready (a slot of the key was freed).
local function unhold(key)
  local hk = held_key(key)
  local best = redis.call('ZPOPMIN', hk, 1)
  if #best == 0 then return end
  redis.call('ZADD', Q.ready, best[2], best[1])
  if redis.call('EXISTS', hk) == 0 then redis.call('SREM', Q.heldkeys, key) end
end

-- Ends the attempts of `members` (list): their leases and cancel requests go, the concurrency
-- slot of each leased member with a key is freed and the best task held for that key comes back
-- to ready. A member without a lease (a replayed ending) frees nothing. Its concurrency key is
-- forgotten unless the task is queued or held again.
local function end_attempts(members)
  local keyed = redis.call('EXISTS', Q.ckeys) == 1
  for first = 1, #members, 1000 do
    local ended = {unpack(members, first, math.min(first + 999, #members))}
    local leased = keyed and redis.call('ZMSCORE', Q.leases, unpack(ended))
    redis.call('ZREM', Q.leases, unpack(ended))
    redis.call('HDEL', Q.cancels, unpack(ended))
    if keyed then
      local keys = redis.call('HMGET', Q.ckeys, unpack(ended))
      local queued = redis.call('ZMSCORE', Q.ready, unpack(ended))
      local any_held = redis.call('SCARD', Q.heldkeys) > 0
      local freed, forget, held = {}, {}, {}
      for i, member in ipairs(ended) do
        local key = keys[i]
        if key and leased[i] then freed[key] = (freed[key] or 0) - 1 end
        if key and not queued[i] then
          if held[key] == nil then held[key] = any_held and redis.call('EXISTS', held_key(key)) == 1 end
          if not (held[key] and redis.call('ZSCORE', held_key(key), member)) then forget[#forget + 1] = member end
        end
      end
      if #forget > 0 then redis.call('HDEL', Q.ckeys, unpack(forget)) end
      change_key_use(freed)
      if any_held then
        for key, n in pairs(freed) do for _ = 1, -n do unhold(key) end end
      end
    end
  end
end

-- Keys of `members` a claim would hold: refuses (conflict) when one's held zset has another type.
local function check_held(keys)
  for key in pairs(keys) do queue_require(held_key(key), 'zset') end
end

local claim_window

-- Takes up to `count` of the best ready tasks, each with a lease until now + lease, within the
-- limits: at most max_running leases on the shard and no more than the type's rate allows; per
-- concurrency key at most max_running_per_key leased tasks and no more than the key's rate (a
-- task over its key's limits is moved to held:<key>). Looks at `count` entries, or where a
-- key's limit may hold some back at `3 * count + 8` (at most `count + 1000`). Returns the claimed members, best first; `adm.due` / `adm.rate_stopped` say when the
-- type's rate lets the next task go.
local function claim(adm, now, lease, count)
  -- Keys whose rate lets a held task run again: one task each back to ready (the key is due
  -- again below while it has tasks held).
  local released = {}
  if adm.key_rate_ms then
    released = redis.call('ZRANGEBYSCORE', Q.keydue, '-inf', now, 'LIMIT', 0, 100)
    for _, key in ipairs(released) do queue_require(held_key(key), 'zset') end
    for _, key in ipairs(released) do
      redis.call('ZREM', Q.keydue, key)
      unhold(key)
    end
  end
  local members = claim_window(adm, now, lease, count)
  for _, key in ipairs(released) do
    if redis.call('EXISTS', held_key(key)) == 1 then
      local tat = tonumber(redis.call('HGET', Q.keytat, key)) or 0
      local _, due = rate_room(tat, now, adm.key_rate_ms, adm.key_rate_burst)
      redis.call('ZADD', Q.keydue, 'LT', score_text(due or now), key)
    end
  end
  return members
end

-- `claim` once the keys due were released: reads the candidates, decides, then writes.
claim_window = function(adm, now, lease, count)
  local room = count
  if adm.max_running then room = math.min(room, adm.max_running - redis.call('ZCARD', Q.leases)) end
  local rate_limited = false
  if adm.rate_ms and room > 0 then
    local tokens = rate_room(adm.tat, now, adm.rate_ms, adm.rate_burst)
    if tokens < room then rate_limited = true end
    room = math.min(room, tokens)
    if tokens <= 0 then adm.due = rate_wake(adm.tat, now, adm.rate_ms, adm.rate_burst) end
  end
  if room <= 0 then
    if redis.call('ZCARD', Q.ready) > 0 then
      redis.call('HINCRBY', Q.admission, 'throttled', 1)
      adm.rate_stopped = adm.due ~= nil
    end
    return {}
  end
  -- Read and decide: the candidates in score order, a window at a time. Beyond `room` only while
  -- a key's limit holds some back, up to 3 * room + 8 entries (at most room + 1000).
  local keyed = redis.call('EXISTS', Q.ckeys) == 1
  local limited = keyed and (adm.per_key or adm.key_rate_ms)
  local limit = limited and math.min(room + 1000, 3 * room + 8) or room
  local members, scores, keys = {}, {}, {}
  local take, hold, holding = {}, {}, {}
  local use, keytat, keydue = {}, {}, {}
  while #take < room and #members < limit do
    local from = #members
    local want = math.min(limit - from, room - #take + (limited and 8 or 0))
    local window = redis.call('ZRANGE', Q.ready, from, from + want - 1, 'WITHSCORES')
    if #window == 0 then break end
    local fresh = {}
    for i = 1, #window, 2 do
      members[#members + 1] = window[i]; scores[#scores + 1] = window[i + 1]; fresh[#fresh + 1] = window[i]
    end
    if keyed then
      local got = redis.call('HMGET', Q.ckeys, unpack(fresh))
      for i = 1, #fresh do keys[from + i] = got[i] end
    end
    if adm.per_key then
      local distinct = {}
      for i = from + 1, #members do
        local key = keys[i]
        if key and use[key] == nil then use[key] = false; distinct[#distinct + 1] = key end
      end
      if #distinct > 0 then
        local got = redis.call('HMGET', Q.keyuse, unpack(distinct))
        for i, key in ipairs(distinct) do use[key] = tonumber(got[i]) or 0 end
      end
    end
    for i = from + 1, #members do
      if #take >= room then break end
      local key = keys[i]
      local held = false
      if key and adm.per_key then held = use[key] >= adm.per_key end
      if key and adm.key_rate_ms and not held then
        if keytat[key] == nil then keytat[key] = tonumber(redis.call('HGET', Q.keytat, key)) or 0 end
        local tokens, due = rate_room(keytat[key], now, adm.key_rate_ms, adm.key_rate_burst)
        if tokens <= 0 then
          held = true
          keydue[key] = due
        end
      end
      if held then
        hold[#hold + 1] = i
        holding[key] = true
      else
        if key and adm.per_key then use[key] = use[key] + 1 end
        if key and adm.key_rate_ms then keytat[key] = math.max(keytat[key], now) + adm.key_rate_ms end
        take[#take + 1] = i
      end
    end
    if #window < 2 * want then break end
  end
  if #members > 0 then
    check_held(holding)
    -- Write.
    local gone = {}
    for _, i in ipairs(take) do gone[#gone + 1] = members[i] end
    for _, i in ipairs(hold) do gone[#gone + 1] = members[i] end
    for first = 1, #gone, 1000 do redis.call('ZREM', Q.ready, unpack(gone, first, math.min(first + 999, #gone))) end
    for _, i in ipairs(hold) do
      redis.call('ZADD', held_key(keys[i]), scores[i], members[i])
      redis.call('SADD', Q.heldkeys, keys[i])
    end
    if #hold > 0 then redis.call('HINCRBY', Q.admission, 'throttled', #hold) end
    for key, due in pairs(keydue) do redis.call('ZADD', Q.keydue, 'LT', score_text(due), key) end
    local tats = {}
    for key, tat in pairs(keytat) do tats[#tats + 1] = key; tats[#tats + 1] = score_text(tat) end
    if #tats > 0 then redis.call('HSET', Q.keytat, unpack(tats)) end
    if adm.rate_ms and #take > 0 then
      adm.tat = math.max(adm.tat, now) + #take * adm.rate_ms
      redis.call('HSET', Q.admission, 'tat', score_text(adm.tat))
      if rate_limited then
        adm.due = rate_wake(adm.tat, now, adm.rate_ms, adm.rate_burst)
        adm.rate_stopped = true
      end
    end
    local leases, claimed, virtual, taken = {}, {}, {}, {}
    for _, i in ipairs(take) do
      local member, key = members[i], keys[i]
      claimed[#claimed + 1] = member
      leases[#leases + 1] = now + lease
      leases[#leases + 1] = member
      if #leases >= 1000 then redis.call('ZADD', Q.leases, unpack(leases)); leases = {} end
      if key then taken[key] = (taken[key] or 0) + 1 end
      local score = tonumber(scores[i])
      local p = math.floor(score / BAND)
      virtual[p] = math.max(virtual[p] or 0, score - p * BAND)
    end
    if #leases > 0 then redis.call('ZADD', Q.leases, unpack(leases)) end
    -- Every leased task with a key counts in its key's use (whether or not a limit is set now).
    if adm.per_key then
      local set = {}
      for key in pairs(taken) do set[#set + 1] = key; set[#set + 1] = use[key] end
      if #set > 0 then redis.call('HSET', Q.keyuse, unpack(set)) end
    else
      change_key_use(taken)
    end
    local fields = {}
    for p, v in pairs(virtual) do
      local current = tonumber(redis.call('HGET', Q.fair, 'v' .. p)) or 0
      if v > current then fields[#fields + 1] = 'v' .. p; fields[#fields + 1] = score_text(v) end
    end
    if #fields > 0 then redis.call('HSET', Q.fair, unpack(fields)) end
    take = claimed
  end
  return take
end

-- When agents should look again although no marker is set ('@<epoch ms>', nil for none): the type's
-- next task under its rate, or the first key whose rate lets a held task run.
local function next_due(adm)
  local due = adm.rate_stopped and adm.due or nil
  if adm.key_rate_ms then
    local first = redis.call('ZRANGE', Q.keydue, 0, 0, 'WITHSCORES')
    if #first > 0 and (not due or tonumber(first[2]) < due) then due = tonumber(first[2]) end
  end
  if not due then return nil end
  return '@' .. string.format('%d', math.ceil(due))
end

-- Sets the wake-up marker while ready holds work an agent may take now; takes it down while the
-- shard is at its max_running or out of rate (agents would wake for nothing: the attempt that
-- frees a slot sets it again; agents wake by themselves when the next task is due).
local function queue_mark(adm)
  if redis.call('ZCARD', Q.ready) == 0 then return end
  if adm.rate_stopped or (adm.max_running and redis.call('ZCARD', Q.leases) >= adm.max_running) then
    redis.call('ZREM', Q.marker, '1')
    return
  end
  redis.call('ZADD', Q.marker, 0, '1')
end
