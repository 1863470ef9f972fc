-- Sluice's work queue on Redis Streams: one stream per lane (priority class, tenant), one consumer group "workers".
-- ARGV[1] is the operation; every key of one queue shares a hash tag, so a call touches one slot.
-- Every answer is a flat array of strings.
local op = ARGV[1]
local group = 'workers'

local function fields_of(arr)
  local t = {}
  for i = 1, #arr, 2 do t[arr[i]] = arr[i + 1] end
  return t
end

-- The last id delivered to the group (entries after it are undelivered).
local function last_delivered(stream)
  local groups = redis.call('XINFO', 'GROUPS', stream)
  for _, g in ipairs(groups) do
    local f = fields_of(g)
    if f['name'] == group then return f['last-delivered-id'] end
  end
  return '0-0'
end

local function id_less(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end

-- Drops the acknowledged prefix of a stream and nothing else: MINID is the oldest entry still pending, or, with
-- nothing pending, the last one delivered; everything from there on is unacked or undelivered and stays. Finished
-- entries are deleted at once (XDEL), so only a stream written by an older version of this script holds any.
local function safe_trim(stream)
  local pending = redis.call('XPENDING', stream, group)
  local floor
  if tonumber(pending[1]) > 0 then floor = pending[2] else floor = last_delivered(stream) end
  if floor ~= '0-0' then redis.call('XTRIM', stream, 'MINID', floor) end
end

-- Who holds entry id now and how often it was delivered, or nil.
local function holder(stream, id)
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  if #p == 0 then return nil end
  return p[1]
end

if op == 'enqueue' then
  -- KEYS: stream, lanes, depth, idem ('' key when none), notify channel, floor
  -- ARGV: op, priority, tenant, payload, deadline, idemKey, enqueuedAt, maxLen, idemWindowMs
  local stream, lanes, depth, idem = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
  local has_idem = ARGV[6] ~= ''
  if has_idem then
    local known = redis.call('GET', idem)
    if known then return {'known', known} end
  end
  if redis.call('EXISTS', stream) == 0 then
    redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
    -- A lane deleted while idle may have issued ids up to the floor (same millisecond, or a clock stepped back):
    -- its ids, in job ids that settled-job records and stale leases still name, are never issued again.
    local floor = redis.call('GET', KEYS[6])
    if floor then redis.call('XSETID', stream, floor) end
  end
  -- The stream holds only unfinished entries (undelivered, leased or given back): its length is the lane's load.
  local max_len = tonumber(ARGV[8])
  if redis.call('XLEN', stream) >= max_len then
    safe_trim(stream)
    if redis.call('XLEN', stream) >= max_len then return {'full'} end
  end
  local id = redis.call('XADD', stream, '*', 'd', ARGV[4], 'dl', ARGV[5], 'k', ARGV[6], 'e', ARGV[7])
  local job_id = ARGV[2] .. ':' .. id .. ':' .. ARGV[3]
  if has_idem then redis.call('SET', idem, job_id, 'PX', ARGV[9]) end
  redis.call('SADD', lanes, ARGV[3])
  redis.call('HINCRBY', depth, ARGV[2], 1)
  redis.call('PUBLISH', KEYS[5], '1')
  return {'new', job_id}

elseif op == 'take' then
  -- KEYS: stream, lanes, depth, dlq, floor
  -- ARGV: op, priority, tenant, consumer, max, leaseMs, maxDeliveries, dlqMaxLen
  local stream, lanes, depth, dlq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
  if redis.call('EXISTS', stream) == 0 then
    redis.call('SREM', lanes, ARGV[3])
    return {}
  end
  local consumer, max, lease, max_deliveries = ARGV[4], tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
  local out = {}
  local taken = 0
  -- Expired (and given back) leases first: they are older than anything undelivered. One XAUTOCLAIM looks at no
  -- more than 10 x COUNT pending entries: it goes on from its cursor past live leases (a bounded number of rounds,
  -- to keep the script short), so an expired lease behind many live ones is not left for later.
  local cursor, rounds = '0-0', 0
  repeat
    local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, lease, cursor, 'COUNT', max - taken)
    cursor, rounds = claimed[1], rounds + 1
    for _, e in ipairs(claimed[2]) do
      if e then
        local id, f = e[1], e[2]
        local h = holder(stream, id)
        local n = h and tonumber(h[4]) or 1
        local fields = fields_of(f)
        if n > max_deliveries then
          redis.call('XADD', dlq, 'MAXLEN', '~', ARGV[8], '*', 'j', ARGV[2] .. ':' .. id .. ':' .. ARGV[3],
            'n', tostring(n - 1), 'd', fields['d'], 'dl', fields['dl'], 'k', fields['k'], 'e', fields['e'])
          redis.call('XACK', stream, group, id)
          redis.call('XDEL', stream, id)
          redis.call('HINCRBY', depth, ARGV[2], -1)
        else
          for _, v in ipairs({id, tostring(n), fields['d'], fields['dl'], fields['k'], fields['e']}) do
            out[#out + 1] = v
          end
          taken = taken + 1
        end
      end
    end
  until cursor == '0-0' or taken >= max or rounds >= 32
  if taken < max then
    local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', max - taken, 'STREAMS', stream, '>')
    if r then
      for _, e in ipairs(r[1][2]) do
        local fields = fields_of(e[2])
        for _, v in ipairs({e[1], '1', fields['d'], fields['dl'], fields['k'], fields['e']}) do
          out[#out + 1] = v
        end
        taken = taken + 1
      end
    end
  end
  if taken == 0 and tonumber(redis.call('XPENDING', stream, group)[1]) == 0 then
    -- Nothing undelivered, nothing leased: the lane is idle until the next enqueue adds it again. Holding nothing
    -- either, its stream goes too, with its group and the consumers that read it: an idle tenant costs no key (the
    -- next enqueue makes them again).
    redis.call('SREM', lanes, ARGV[3])
    if redis.call('XLEN', stream) == 0 then
      local last = fields_of(redis.call('XINFO', 'STREAM', stream))['last-generated-id']
      local floor = redis.call('GET', KEYS[5])
      if not floor or id_less(floor, last) then redis.call('SET', KEYS[5], last) end
      redis.call('DEL', stream)
    end
  end
  return out

elseif op == 'ack' or op == 'release' or op == 'extend' then
  -- KEYS: stream, depth, notify channel; ARGV: op, priority, id, consumer, deliveries, leaseMs
  local stream, depth = KEYS[1], KEYS[2]
  if redis.call('EXISTS', stream) == 0 then return {'0'} end -- a lane gone idle holds no lease
  local h = holder(stream, ARGV[3])
  if not h or h[2] ~= ARGV[4] or tostring(h[4]) ~= ARGV[5] then return {'0'} end
  if op == 'ack' then
    redis.call('XACK', stream, group, ARGV[3])
    redis.call('XDEL', stream, ARGV[3])
    redis.call('HINCRBY', depth, ARGV[2], -1)
  elseif op == 'release' then
    -- To the placeholder consumer 'given-back' (so this lease no longer holds it), idle for ages: the next
    -- XAUTOCLAIM of any consumer takes it (JUSTID: the delivery count stays).
    redis.call('XCLAIM', stream, group, 'given-back', 0, ARGV[3], 'IDLE', tonumber(ARGV[6]) + 86400000, 'JUSTID')
    redis.call('PUBLISH', KEYS[3], '1')
  else
    redis.call('XCLAIM', stream, group, ARGV[4], 0, ARGV[3], 'JUSTID')
  end
  return {'1'}

elseif op == 'cancel' then
  -- KEYS: stream, depth; ARGV: op, priority, id
  local stream, depth, id = KEYS[1], KEYS[2], ARGV[3]
  if redis.call('EXISTS', stream) == 0 then return {'0'} end
  if #redis.call('XRANGE', stream, id, id) == 0 then return {'0'} end
  -- Only a waiting entry can be cancelled: one given back (pending under the placeholder 'given-back'), or one
  -- undelivered (not pending, and after the group's last delivered id).
  local h = holder(stream, id)
  if h then
    if h[2] ~= 'given-back' then return {'0'} end
    redis.call('XACK', stream, group, id)
  elseif not id_less(last_delivered(stream), id) then
    return {'0'}
  end
  redis.call('XDEL', stream, id)
  redis.call('HINCRBY', depth, ARGV[2], -1)
  return {'1'}
end
return redis.error_reply('unknown operation ' .. tostring(op))
