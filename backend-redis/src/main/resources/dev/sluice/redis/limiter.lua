-- Sluice: the reference algorithms of limiter-core (dev.sluice.core.engine), reproduced for Redis.
-- One call applies a whole policy to a key, all or nothing, for each of a batch of requests (one request when the
-- backend is idle; the requests that queued up while a call was in flight otherwise), at one instant.
-- Every number stays an integer below 2^53, so Lua's doubles compute exactly what Java's longs do;
-- RedisBackend refuses limits whose products could exceed that.
--
-- KEYS[k]   the hashes of the batch's keys, each once
-- ARGV[1]   now in microseconds, or '' for the server's clock (TIME)
-- ARGV[2]   S, the number of policy specs ('dim:ALG:capacity:periodMicros:burst;' per limit, ALG one of F L C T G)
-- ARGV[3 .. 2+S]  the specs, each once
-- ARGV[3+S] the requests, one string of integers separated by single spaces; per request: 1 (acquire) or 2
--           (refund), the index of its key in KEYS, the index of its spec (both from 1), then the cost of each
--           limit of the spec in policy order
-- Returns one string of integers separated by single spaces: now, then per request in order: granted 0/1,
-- retryAfterMicros, boundIndex (0-based, -1 none), remaining per limit. (One argument and one answer for the whole
-- batch: a client encodes and decodes each argument and answer element on its own, which costs it more than this
-- parsing costs Redis.)
--
-- Run two ways, from this one text: with EVALSHA (the last line calls main), or, on Redis 7+, as a Redis function:
-- RedisBackend replaces the last line with redis.register_function and loads the text as a library, so that the
-- definitions below run once at load instead of at every call (about half of a small call's cost).

local function idiv(a, b) -- floor(a / b), exact for integers below 2^53
  local q = math.floor(a / b)
  local r = a - q * b
  if r < 0 then q = q - 1 elseif r >= b then q = q + 1 end
  return q
end

local function ceildiv(a, b) return idiv(a + b - 1, b) end

-- Parsed specs; a Redis function keeps them between calls, so the table is bounded.
local parsed, nparsed = {}, 0

local function parse(spec)
  local limits = parsed[spec]
  if limits ~= nil then return limits end
  if nparsed >= 256 then parsed, nparsed = {}, 0 end
  limits = {}
  parsed[spec] = limits
  nparsed = nparsed + 1
  for dim, alg, cap, p, burst in string.gmatch(spec, '([^:;]+):(%a):(%d+):(%d+):(%d+);') do
    limits[#limits + 1] = {dim = dim, alg = alg, cap = tonumber(cap), p = tonumber(p), burst = tonumber(burst)}
  end
  return limits
end

local function wstart(now, p) return now - (now - idiv(now, p) * p) end

-- Each algorithm: wait(l, s, n, now), charge(l, s, n, now), remaining(l, s, now), refund(l, s, n, now),
-- rest(l, s), used(l, s, now), seed(l, used, now). A state is a Lua table or nil (fresh).
local A = {}

A.F = {
  count = function(l, s, now)
    if s == nil then return 0 end
    if now < s[1] + l.p then return s[2] end
    return 0
  end
}
A.F.wait = function(l, s, n, now)
  if n <= l.cap - A.F.count(l, s, now) then return 0 end
  local start
  if s ~= nil and now < s[1] then start = s[1] else start = wstart(now, l.p) end
  return start + l.p - now
end
A.F.charge = function(l, s, n, now)
  local c = A.F.count(l, s, now)
  if c > 0 then return {s[1], c + n} end
  return {wstart(now, l.p), n}
end
A.F.remaining = function(l, s, now) return math.max(0, l.cap - A.F.count(l, s, now)) end
A.F.refund = function(l, s, n, now)
  local c = A.F.count(l, s, now)
  if c == 0 or c <= n then return nil end
  return {s[1], c - n}
end
A.F.rest = function(l, s) if s[2] > 0 then return s[1] + l.p end return nil end
A.F.used = function(l, s, now) return A.F.count(l, s, now) end
A.F.seed = function(l, used, now)
  if used <= 0 then return nil end
  return {wstart(now, l.p), math.min(used, l.cap)}
end

-- Sliding log: s = {t1, u1, t2, u2, ...} ascending
A.L = {}
local function firstlive(l, s, now)
  local cutoff = now - l.p
  local i = 1
  while i <= #s and s[i] <= cutoff do i = i + 2 end
  return i
end
local function logused(s, from)
  local sum = 0
  for i = from, #s, 2 do sum = sum + s[i + 1] end
  return sum
end
A.L.wait = function(l, s, n, now)
  if s == nil then return 0 end
  local from = firstlive(l, s, now)
  local used = logused(s, from)
  if n <= l.cap - used then return 0 end
  local need = used + n - l.cap
  local freed = 0
  for i = from, #s, 2 do
    freed = freed + s[i + 1]
    if freed >= need then return s[i] + l.p - now end
  end
  return redis.error_reply('cost exceeds capacity')
end
A.L.charge = function(l, s, n, now)
  if s == nil then return {now, n} end
  local from = firstlive(l, s, now)
  local out = {}
  for i = from, #s do out[#out + 1] = s[i] end
  local at = now
  if #out > 0 and out[#out - 1] > at then at = out[#out - 1] end
  if #out > 0 and out[#out - 1] == at then
    out[#out] = out[#out] + n
  else
    out[#out + 1] = at
    out[#out + 1] = n
  end
  return out
end
A.L.remaining = function(l, s, now)
  if s == nil then return l.cap end
  return math.max(0, l.cap - logused(s, firstlive(l, s, now)))
end
A.L.refund = function(l, s, n, now)
  if s == nil then return nil end
  local from = firstlive(l, s, now)
  local out = {}
  for i = from, #s do out[#out + 1] = s[i] end
  local left = n
  while #out > 0 and left > 0 do
    local take = math.min(left, out[#out])
    out[#out] = out[#out] - take
    left = left - take
    if out[#out] == 0 then
      out[#out] = nil
      out[#out] = nil
    end
  end
  if #out == 0 then return nil end
  return out
end
A.L.rest = function(l, s) return s[#s - 1] + l.p end
A.L.used = function(l, s, now)
  if s == nil then return 0 end
  return logused(s, firstlive(l, s, now))
end
A.L.seed = function(l, used, now)
  if used <= 0 then return nil end
  return {now, math.min(used, l.cap)}
end

-- Sliding window counter: s = {windowStart, previous, current}
A.C = {}
local function cview(l, s, now)
  if s == nil then return {wstart(now, l.p), 0, 0} end
  if now < s[1] + l.p then return s end
  local start = wstart(now, l.p)
  if start == s[1] + l.p then return {start, s[3], 0} end
  return {start, 0, 0}
end
local function overlap(l, v, now) return l.p - math.max(0, now - v[1]) end
A.C.wait = function(l, s, n, now)
  local v = cview(l, s, now)
  local p, cap = l.p, l.cap
  if n > cap - v[3] then
    local prev = v[3]
    local e = 0
    if prev ~= 0 then e = math.max(0, p - idiv((cap - n) * p, prev)) end
    return v[1] + p + e - now
  end
  local r = overlap(l, v, now)
  if v[2] == 0 or v[2] * r <= (cap - v[3] - n) * p then return 0 end
  return v[1] + p - idiv((cap - v[3] - n) * p, v[2]) - now
end
A.C.charge = function(l, s, n, now)
  local v = cview(l, s, now)
  return {v[1], v[2], v[3] + n}
end
A.C.remaining = function(l, s, now)
  local v = cview(l, s, now)
  local free = (l.cap - v[3]) * l.p - v[2] * overlap(l, v, now)
  if free <= 0 then return 0 end
  return idiv(free, l.p)
end
A.C.refund = function(l, s, n, now)
  if s == nil then return nil end
  local v = cview(l, s, now)
  local fc = math.min(n, v[3])
  local fp = math.min(n - fc, v[2])
  if v[2] - fp == 0 and v[3] - fc == 0 then return nil end
  return {v[1], v[2] - fp, v[3] - fc}
end
A.C.rest = function(l, s)
  if s[3] > 0 then return s[1] + 2 * l.p end
  if s[2] > 0 then return s[1] + l.p end
  return nil
end
A.C.used = function(l, s, now)
  local v = cview(l, s, now)
  return v[3] + ceildiv(v[2] * overlap(l, v, now), l.p)
end
A.C.seed = function(l, used, now)
  if used <= 0 then return nil end
  return {wstart(now, l.p), 0, math.min(used, l.cap)}
end

-- Token bucket: s = {scaledTokens, last}
A.T = {}
local function scaled(l, s, now)
  local full = l.burst * l.p
  if s == nil then return full end
  local elapsed = now - s[2]
  if elapsed <= 0 then return s[1] end
  local missing = full - s[1]
  if missing <= elapsed then return full end
  local refill = elapsed * l.cap
  if refill >= missing then return full end
  return s[1] + refill
end
A.T.wait = function(l, s, n, now)
  local need = n * l.p - scaled(l, s, now)
  if need <= 0 then return 0 end
  local base = 0
  if s ~= nil then base = math.max(0, s[2] - now) end
  return base + ceildiv(need, l.cap)
end
A.T.charge = function(l, s, n, now)
  local at = now
  if s ~= nil and s[2] > at then at = s[2] end
  return {scaled(l, s, at) - n * l.p, at}
end
A.T.remaining = function(l, s, now) return idiv(scaled(l, s, now), l.p) end
A.T.refund = function(l, s, n, now)
  if s == nil then return nil end
  local at = math.max(now, s[2])
  local full = l.burst * l.p
  local sc = scaled(l, s, at)
  if full - sc <= n * l.p then return nil end
  return {sc + n * l.p, at}
end
A.T.rest = function(l, s)
  local missing = l.burst * l.p - s[1]
  if missing <= 0 then return nil end
  return s[2] + ceildiv(missing, l.cap)
end
A.T.used = function(l, s, now) return ceildiv(l.burst * l.p - scaled(l, s, now), l.p) end
A.T.seed = function(l, used, now)
  local u = math.min(used, l.burst)
  if u <= 0 then return nil end
  return {(l.burst - u) * l.p, now}
end
A.T.rescale = function(from, s, to, now)
  local at = math.max(now, s[2])
  local missing = from.burst * from.p - scaled(from, s, at)
  if missing <= 0 then return nil end
  return {math.max(0, to.burst * to.p - missing), at}
end

-- GCRA: s = {tat, fraction}; TAT = tat + fraction / capacity
A.G = {}
local function debt(l, s, now)
  if s == nil or s[1] < now or (s[1] == now and s[2] == 0) then return 0 end
  return (s[1] - now) * l.cap + s[2]
end
local function gat(l, now, d)
  if d <= 0 then return nil end
  local whole = idiv(d, l.cap)
  return {now + whole, d - whole * l.cap}
end
A.G.wait = function(l, s, n, now)
  local excess = debt(l, s, now) - (l.burst - n) * l.p
  if excess <= 0 then return 0 end
  return ceildiv(excess, l.cap)
end
A.G.charge = function(l, s, n, now) return gat(l, now, debt(l, s, now) + n * l.p) end
A.G.remaining = function(l, s, now)
  local free = l.burst * l.p - debt(l, s, now)
  if free <= 0 then return 0 end
  return idiv(free, l.p)
end
A.G.refund = function(l, s, n, now) return gat(l, now, debt(l, s, now) - n * l.p) end
A.G.rest = function(l, s)
  if s[2] > 0 then return s[1] + 1 end
  return s[1]
end
A.G.used = function(l, s, now) return ceildiv(debt(l, s, now), l.p) end
A.G.seed = function(l, used, now) return gat(l, now, math.min(used, l.burst) * l.p) end
A.G.rescale = function(from, s, to, now)
  return gat(to, now, math.min(debt(from, s, now), to.burst * to.p))
end

-- State storage: field 's' holds the spec, field i holds limit i's state as space-separated integers.
local function decode(str)
  if not str then return nil end
  local t = {}
  for x in string.gmatch(str, '%-?%d+') do t[#t + 1] = tonumber(x) end
  return t
end

local function encode(t)
  local parts = {}
  for i = 1, #t do parts[i] = string.format('%.0f', t[i]) end
  return table.concat(parts, ' ')
end

-- The keys of one batch are read once, kept decoded while the batch runs, and encoded and written once at the end:
-- a hot key's requests share one HGETALL and one write, and pay no decoding or encoding of their own.
-- loaded[key] = {spec = the policy its states are under (nil: fresh), n = number of limits, states = {...}}
local loaded, original, dirty, order = {}, {}, {}, {}
-- Milliseconds a key outlives its rest (set per call by main).
local margin = 1000
-- Field names of the limits' states, '1', '2', ...: made once each for the first 32 (a function keeps them between
-- calls; at load time Redis offers no tostring), by tostring beyond.
local FIELDS = {}
local function field(i)
  local f = FIELDS[i]
  if f == nil then
    f = tostring(i)
    if i <= 32 then FIELDS[i] = f end
  end
  return f
end

local function entryof(key)
  local e = loaded[key]
  if e == nil then
    local before = {}
    local stored = redis.call('HGETALL', key)
    for i = 1, #stored, 2 do before[stored[i]] = stored[i + 1] end
    original[key] = before
    local spec = before['s']
    local states, n = {}, 0
    if spec ~= nil then
      n = #parse(spec)
      for i = 1, n do states[i] = decode(before[field(i)]) end
    end
    e = {spec = spec, n = n, states = states}
    loaded[key] = e
  end
  return e
end

local function apply(key, op, spec, limits, cost, now)
  local n = #limits
  local e = entryof(key)

  local states
  local changed = false
  if e.spec == nil or e.spec == spec then
    states = e.states
  else
    -- The key was last written under another policy: carry what it consumed over (PolicyEngine.migrate).
    local old = parse(e.spec)
    local oldstates = e.states
    states = {}
    for j = 1, n do
      local to = limits[j]
      local same = nil
      local used = 0
      local usedsame = -1
      for i = 1, #old do
        local from = old[i]
        if from.dim == to.dim then
          if same == nil and from.alg == to.alg and from.p == to.p then same = i end
          local u = A[from.alg].used(from, oldstates[i], now)
          used = math.max(used, u)
          if from.p == to.p then usedsame = math.max(usedsame, u) end
        end
      end
      if usedsame >= 0 then used = usedsame end
      if same ~= nil then
        local s = oldstates[same]
        if s == nil then
          states[j] = nil
        elseif to.alg == 'T' or to.alg == 'G' then
          states[j] = A[to.alg].rescale(old[same], s, to, now)
        else
          states[j] = s
        end
      else
        states[j] = A[to.alg].seed(to, used, now)
      end
    end
    changed = true
  end

  local result
  local after = {}
  if op == 'a' then
    local maxwait, bound = 0, -1
    for i = 1, n do
      if cost[i] > 0 then
        local w = A[limits[i].alg].wait(limits[i], states[i], cost[i], now)
        if w > maxwait then maxwait, bound = w, i - 1 end
      end
    end
    if maxwait > 0 then
      result = {0, maxwait, bound}
      for i = 1, n do result[3 + i] = A[limits[i].alg].remaining(limits[i], states[i], now) end
      after = states
    else
      result = {1, 0, -1}
      for i = 1, n do
        if cost[i] > 0 then
          after[i] = A[limits[i].alg].charge(limits[i], states[i], cost[i], now)
        else
          after[i] = states[i]
        end
        result[3 + i] = A[limits[i].alg].remaining(limits[i], after[i], now)
      end
      changed = true
    end
  else
    result = {1, 0, -1}
    for i = 1, n do
      if cost[i] > 0 then
        after[i] = A[limits[i].alg].refund(limits[i], states[i], cost[i], now)
      else
        after[i] = states[i]
      end
      result[3 + i] = A[limits[i].alg].remaining(limits[i], after[i], now)
    end
    changed = true
  end

  if changed then
    local rest = nil
    for i = 1, n do
      local s = after[i]
      if s ~= nil then
        local r = A[limits[i].alg].rest(limits[i], s)
        if r ~= nil and (rest == nil or r > rest) then rest = r end
      end
    end
    if rest ~= nil and rest > now then
      -- One second past the rest on Redis's clock. Under an explicit time (tests, whose manual clock may stand
      -- still while real seconds pass on a loaded machine) a minute, so a key never expires mid-sequence.
      e.spec, e.n, e.states, e.ttl = spec, n, after, ceildiv(rest - now, 1000) + margin
    else
      e.spec, e.n, e.states, e.ttl = nil, 0, {}, nil
    end
    if not dirty[key] then
      dirty[key] = true
      order[#order + 1] = key
    end
  end
  return result
end

-- Writes only what changed: the fields whose values differ, the fields that are gone, and the expiry.
local function flush()
  for _, key in ipairs(order) do
    local e, before = loaded[key], original[key]
    if e.spec == nil then
      if next(before) ~= nil then redis.call('DEL', key) end
    else
      local fields = {s = e.spec}
      for i = 1, e.n do
        local st = e.states[i]
        if st ~= nil then fields[field(i)] = encode(st) end
      end
      local set, gone = {}, {}
      for f, v in pairs(fields) do
        if before[f] ~= v then
          set[#set + 1] = f
          set[#set + 1] = v
        end
      end
      for f in pairs(before) do
        if fields[f] == nil then gone[#gone + 1] = f end
      end
      if #gone > 0 then redis.call('HDEL', key, unpack(gone)) end
      if #set > 0 then redis.call('HSET', key, unpack(set)) end
      redis.call('PEXPIRE', key, e.ttl)
    end
  end
end

local function main(KEYS, ARGV)
  loaded, original, dirty, order = {}, {}, {}, {}
  local now
  if ARGV[1] == '' then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000000 + tonumber(t[2])
    margin = 1000
  else
    now = tonumber(ARGV[1])
    margin = 60000
  end
  local nspecs = tonumber(ARGV[2])
  local nums, count = {}, 0
  for x in string.gmatch(ARGV[3 + nspecs], '%d+') do
    count = count + 1
    nums[count] = tonumber(x)
  end
  local out = {string.format('%.0f', now)}
  local at = 1
  while at <= count do
    local op = nums[at] == 1 and 'a' or 'r'
    local spec = ARGV[2 + nums[at + 2]]
    local limits = parse(spec)
    local cost = {}
    for i = 1, #limits do cost[i] = nums[at + 2 + i] end
    local key = KEYS[nums[at + 1]]
    at = at + 3 + #limits
    local result = apply(key, op, spec, limits, cost, now)
    for i = 1, #result do out[#out + 1] = string.format('%.0f', result[i]) end
  end
  flush()
  return table.concat(out, ' ')
end

return main(KEYS, ARGV)
