// Lua for every Redis store operation that reads and then writes, so two gateway instances (or two
// requests on one) cannot interleave between the read and the write. Redis runs a script atomically.
// Scripts reach a few keys derived inside the script (the old owner's hash when a token moves);
// keep every key in one hash slot with a `{tag}` in the key prefix if Redis Cluster is ever used.
// Ring records are hashes {state, record}: the record JSON is written once by the gateway and never
// re-encoded by cjson, which would turn an empty array into `{}`.

// ARGV[from..to] as a table, by a loop: unpack() puts every element on Lua's C stack, and fails
// ("too many results to unpack") past ~8,000, e.g. the cancel of a ring to that many devices.
// Scripts read and check all their arguments before their first write: Redis does not roll a
// script back, so a failure after a write would leave half a step behind (a ring ended, its
// cancels never claimed).
const SLICE = `
local function slice(t, from, to)
  local out = {}
  for i = from, to or #t do out[#out + 1] = t[i] end
  return out
end
`

// The current Redis time in ms, for scores in the open-rings index (one clock for every instance).
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`

// Every change to an agent's devices is published on <prefix>devices:changed (the agent's id), so
// instances can keep device lists in memory (cached.ts). pcall: a Redis user whose ACL forbids the
// channel still registers devices; its instances find the channel closed and keep no such cache.
const PUBLISH_CHANGE = `
local function publish_change(prefix, user) redis.pcall('PUBLISH', prefix .. 'devices:changed', user) end
`

// Removes `token` from agent `user` (hash, token index, per-platform count, agents set).
const DROP_DEVICE = `${PUBLISH_CHANGE}
local function drop_device(prefix, counts, agents, token, user)
  local hash = prefix .. 'gen_user_id_' .. user
  local json = redis.call('HGET', hash, token)
  if json then
    redis.call('HINCRBY', counts, cjson.decode(json).platform, -1)
    redis.call('HDEL', hash, token)
  end
  redis.call('DEL', prefix .. 'device:' .. token)
  if redis.call('HLEN', hash) == 0 then redis.call('SREM', agents, user) end
  publish_change(prefix, user)
end
`

// Moves ring `key` to state `to` if it is in one of `from`. Returns {previous state, record JSON,
// sent mark ('' when none), cancelled tokens...}, or false when the compare-and-set fails.
const TRANSITION = `
local function transition(ring, cancelled, open, unsent, key, to, ttl, from)
  local state = redis.call('HGET', ring, 'state')
  if not state then return false end
  local allowed = false
  for _, f in ipairs(from) do if f == state then allowed = true end end
  if not allowed then return false end
  local out = { state, redis.call('HGET', ring, 'record'), redis.call('HGET', ring, 'sent') or '' }
  for _, t in ipairs(redis.call('SMEMBERS', cancelled)) do out[#out + 1] = t end
  redis.call('HSET', ring, 'state', to)
  redis.call('PEXPIRE', ring, ttl)
  redis.call('PEXPIRE', cancelled, ttl)
  redis.call('PEXPIRE', unsent, ttl)
  if to == 'ringing' then
    redis.call('ZADD', open, cjson.decode(redis.call('HGET', ring, 'record')).expiresAt, key)
    if redis.call('PTTL', open) < ttl then redis.call('PEXPIRE', open, ttl) end
  else
    redis.call('ZREM', open, key)
  end
  return out
end
`

// Claims cancels to `tokens` on ring `key`: the first `pushed` are to be pushed, the rest are
// silent (the phone that answered). Returns only the tokens no earlier call claimed (SADD says
// which members are new); fresh tokens to be pushed wait in the unsent set (the outbox) until
// pgwMarkSent, when the ring is alive. A claim without a ring lives `orphanTtl` ms.
const CLAIM = `
local function claim(ring, cancelled, unsent, unsentIndex, key, orphanTtl, pushed, tokens)
  ${NOW}
  local ttl = redis.call('PTTL', ring)
  local preset = {}
  if ttl > 0 then
    for _, t in ipairs(cjson.decode(redis.call('HGET', ring, 'record')).cancelledTokens or {}) do preset[t] = true end
  end
  local fresh = {}
  local pending = 0
  for i, t in ipairs(tokens) do
    if not preset[t] and redis.call('SADD', cancelled, t) == 1 then
      fresh[#fresh + 1] = t
      if ttl > 0 and i <= pushed then
        redis.call('SADD', unsent, t)
        pending = pending + 1
      end
    end
  end
  if ttl > 0 then
    redis.call('PEXPIRE', cancelled, ttl)
    if pending > 0 then
      redis.call('PEXPIRE', unsent, ttl)
      redis.call('ZADD', unsentIndex, now, key)
      if redis.call('PTTL', unsentIndex) < ttl then redis.call('PEXPIRE', unsentIndex, ttl) end
    end
  elseif redis.call('PTTL', cancelled) < 0 then redis.call('PEXPIRE', cancelled, orphanTtl) end
  return fresh
end
`

/**
 * A script and the names of its KEYS and ARGV in order: KEYS[i] is `keys[i - 1]`, ARGV[i] is
 * `args[i - 1]`, and the call's `rest` (a list of tokens or states) follows the named arguments.
 * Callers name every key and argument (runScript); the order is written here, once. A script
 * without `keys` takes a number of keys that varies per call (runVariadicScript).
 */
export type ScriptDef =
  | { keys: readonly string[]; args: readonly string[]; lua: string }
  | { keys?: undefined; args?: undefined; lua: string }

export const SCRIPTS = {
  // tokenOwner: device:<token>; agentDevices: the new owner's hash. Returns {the previous owner ('' when none), 1 when the agent had no device before, the agent's
  // token count}: what a registration needs, in its one round trip. The same agent registering its
  // token again (every app launch) overwrites it in place: one change published, not a drop and an add.
  pgwUpsertDevice: {
    keys: ['tokenOwner', 'agentDevices', 'counts', 'agents'] as const,
    args: ['prefix', 'token', 'userId', 'deviceJson', 'platform'] as const,
    lua: `${DROP_DEVICE}
local old = redis.call('GET', KEYS[1])
local held = old == ARGV[3] and redis.call('HGET', KEYS[2], ARGV[2])
if held then
  local was = cjson.decode(held).platform
  if was ~= ARGV[5] then
    redis.call('HINCRBY', KEYS[3], was, -1)
    redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
  end
else
  if old then drop_device(ARGV[1], KEYS[3], KEYS[4], ARGV[2], old) end
  redis.call('SET', KEYS[1], ARGV[3])
  redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
local first = redis.call('SADD', KEYS[4], ARGV[3])
publish_change(ARGV[1], ARGV[3])
return { old or '', first, redis.call('HLEN', KEYS[2]) }`,
  },
  // Returns 1 when removed.
  pgwRemoveDevice: {
    keys: ['tokenOwner', 'counts', 'agents'] as const,
    args: ['prefix', 'token', 'userId'] as const,
    lua: `${DROP_DEVICE}
if redis.call('GET', KEYS[1]) ~= ARGV[3] then return 0 end
drop_device(ARGV[1], KEYS[2], KEYS[3], ARGV[2], ARGV[3])
return 1`,
  },
  // Returns the tokens removed.
  // A phone holds a few tokens and an agent a few phones: reading the agent's hash is cheap.
  pgwRemovePhone: {
    keys: ['agentDevices', 'counts', 'agents'] as const,
    args: ['prefix', 'userId', 'deviceId'] as const,
    lua: `${DROP_DEVICE}
local removed = {}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if cjson.decode(fields[i + 1]).deviceId == ARGV[3] then removed[#removed + 1] = fields[i] end
end
for _, token in ipairs(removed) do drop_device(ARGV[1], KEYS[2], KEYS[3], token, ARGV[2]) end
return removed`,
  },
  // registeredBefore: '' for none.
  // APNs 410 rule: a device registered at or after the push service's timestamp is kept.
  pgwPruneToken: {
    keys: ['tokenOwner', 'counts', 'agents'] as const,
    args: ['prefix', 'token', 'registeredBefore'] as const,
    lua: `${DROP_DEVICE}
local user = redis.call('GET', KEYS[1])
if not user then return 0 end
if ARGV[3] ~= '' then
  local json = redis.call('HGET', ARGV[1] .. 'gen_user_id_' .. user, ARGV[2])
  if json and tonumber(cjson.decode(json).registeredAt) >= tonumber(ARGV[3]) then return 0 end
end
drop_device(ARGV[1], KEYS[2], KEYS[3], ARGV[2], user)
return 1`,
  },
  // Returns the device JSON, read consistently with the token's owner.
  pgwGetDevice: {
    keys: ['tokenOwner'] as const,
    args: ['prefix', 'token'] as const,
    lua: `local user = redis.call('GET', KEYS[1])
if not user then return false end
return redis.call('HGET', ARGV[1] .. 'gen_user_id_' .. user, ARGV[2])`,
  },
  // ring, cancelled, unsent: the ring's hash, its cancel set and its unsent-cancel set; open: the
  // open-rings index. expiresAt: the ring's timeout (epoch ms), its score there.
  // writer: unique to the call. ioredis sends a command again on a new connection when the old one
  // died before its reply came; if the first send had created the ring, the second finds its own
  // writer and answers 1 again, rather than 0, which would read as another instance's ring.
  pgwCreateRing: {
    keys: ['ring', 'cancelled', 'open', 'unsent'] as const,
    args: ['key', 'state', 'recordJson', 'ttlMs', 'expiresAt', 'writer'] as const,
    lua: `if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'w') == ARGV[6] then return 1 end
  return 0
end
local ttl = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'record', ARGV[3], 'w', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('DEL', KEYS[2], KEYS[4])
if ARGV[2] == 'ringing' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
  if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
end
return 1`,
  },
  // rest: the states it may move from. Returns {previous state, record JSON, sent mark ('' when none), cancelled tokens...} or nil when the CAS fails.
  pgwTransitionRing: {
    keys: ['ring', 'cancelled', 'open', 'unsent'] as const,
    args: ['key', 'to', 'ttlMs'] as const,
    lua: `${SLICE}${TRANSITION}
return transition(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], tonumber(ARGV[3]), slice(ARGV, 4))`,
  },
  // orphanTtlMs: the claim's life when the ring is gone. rest: the tokens, of which the first `pushed`
  // are to be pushed and the others are silent.
  pgwClaimCancels: {
    keys: ['ring', 'cancelled', 'unsent', 'unsentIndex'] as const,
    args: ['key', 'orphanTtlMs', 'pushed'] as const,
    lua: `${SLICE}${CLAIM}
return claim(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), slice(ARGV, 4))`,
  },
  // pgwTransitionRing, then pgwClaimCancels of tokens all to be pushed, when the ring moved and its
  // rungTokens are exactly the guessed ones (store.ts endRing). rest: `fromCount` from states, m,
  // m guessed rung tokens, then the tokens to claim.
  // Returns nil when the CAS fails; {the ring as it is} when the guess was wrong, and then nothing
  // changed; {transition, fresh tokens} when it ended.
  pgwEndRing: {
    keys: ['ring', 'cancelled', 'open', 'unsent', 'unsentIndex'] as const,
    args: ['key', 'to', 'ttlMs', 'orphanTtlMs', 'fromCount'] as const,
    lua: `${SLICE}${TRANSITION}${CLAIM}
local nfrom = tonumber(ARGV[5])
local from = slice(ARGV, 6, 5 + nfrom)
local g = 6 + nfrom
local nguess = tonumber(ARGV[g])
local tokens = slice(ARGV, g + nguess + 1)
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return false end
local allowed = false
for _, f in ipairs(from) do if f == state then allowed = true end end
if not allowed then return false end
local record = redis.call('HGET', KEYS[1], 'record')
local rung = cjson.decode(record).rungTokens
local same = #rung == nguess
if same then
  local set = {}
  for _, t in ipairs(rung) do set[t] = true end
  for i = g + 1, g + nguess do if not set[ARGV[i]] then same = false end end
end
if not same then
  local out = { state, record, redis.call('HGET', KEYS[1], 'sent') or '' }
  for _, t in ipairs(redis.call('SMEMBERS', KEYS[2])) do out[#out + 1] = t end
  return { out }
end
local out = transition(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], tonumber(ARGV[3]), from)
return { out, claim(KEYS[1], KEYS[2], KEYS[4], KEYS[5], ARGV[1], tonumber(ARGV[4]), #tokens, tokens) }`,
  },
  // The write-behind batch (redis-write-behind.ts): outbox marks of several rings, then delivery
  // records, in one call. KEYS: unsent-cancels index; per mark its ring and the ring's unsent-cancel
  // set; per delivery record its hash. ARGV: how many marks; per mark: ring key, at, '1' to mark the
  // ring itself sent ('0' not), how many cancel tokens, the cancel tokens sent; per delivery record:
  // ttl ms, how many field/value pairs, the pairs. The ring's 'sent' field keeps the ring hash's TTL.
  // Field by field, no unpack() (see SLICE). Its keys vary per call: runVariadicScript.
  pgwWriteBehind: {
    lua: `local marks = tonumber(ARGV[1])
local a = 2
for m = 1, marks do
  local ring, unsent = KEYS[2 * m], KEYS[2 * m + 1]
  local n = tonumber(ARGV[a + 3])
  if ARGV[a + 2] == '1' and redis.call('EXISTS', ring) == 1 then redis.call('HSET', ring, 'sent', ARGV[a + 1]) end
  if n > 0 then
    for i = a + 4, a + 3 + n do redis.call('SREM', unsent, ARGV[i]) end
    if redis.call('SCARD', unsent) == 0 then redis.call('ZREM', KEYS[1], ARGV[a]) end
  end
  a = a + 4 + n
end
for d = 2 * marks + 2, #KEYS do
  local pairs = tonumber(ARGV[a + 1])
  for i = a + 2, a + 2 * pairs, 2 do redis.call('HSET', KEYS[d], ARGV[i], ARGV[i + 1]) end
  redis.call('PEXPIRE', KEYS[d], ARGV[a])
  a = a + 2 + 2 * pairs
end
return 1`,
  },
  // Ring keys whose last cancel claim is at least `olderThanMs` old and still has unsent tokens; members whose ring or set expired are dropped.
  pgwUnsentCancelKeys: {
    keys: ['unsentIndex'] as const,
    args: ['prefix', 'olderThanMs'] as const,
    lua: `${NOW}
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))) do
  local ring = ARGV[1] .. 'ring:' .. key
  if redis.call('EXISTS', ring) == 1 and redis.call('SCARD', ring .. ':unsent') > 0 then out[#out + 1] = key
  else redis.call('ZREM', KEYS[1], key) end
end
return out`,
  },
  // open: scored by the ring's timeout (expiresAt). dueBy: epoch ms, or '+inf' for all. The ring
  // keys due by then; members whose ring has expired are dropped
  // (every member falls due before its ring expires, so the sweep finds them all).
  pgwOpenRingKeys: {
    keys: ['open'] as const,
    args: ['prefix', 'dueBy'] as const,
    lua: `local out = {}
for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])) do
  if redis.call('EXISTS', ARGV[1] .. 'ring:' .. key) == 1 then out[#out + 1] = key
  else redis.call('ZREM', KEYS[1], key) end
end
return out`,
  },
  // Compare-and-set of an agent's reachability document. reach: its hash {v, doc}; reachAgents: the
  // index of agents (zset, score = Redis-time ms when the document expires); version: the expected
  // one (0: none). Returns 1 when written.
  pgwPutReach: {
    keys: ['reach', 'reachAgents'] as const,
    args: ['version', 'doc', 'ttlMs', 'userId'] as const,
    lua: `${NOW}
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v ~= tonumber(ARGV[1]) then return 0 end
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'v', v + 1, 'doc', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1`,
  },
  pgwReachUsers: {
    keys: ['reachAgents'] as const,
    args: [] as const,
    lua: `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)`,
  },
} satisfies Record<string, ScriptDef>

export type ScriptName = keyof typeof SCRIPTS

type Scripts = typeof SCRIPTS
type NamedScript = { [N in ScriptName]: Scripts[N] extends { keys: readonly string[] } ? N : never }[ScriptName]
type Named<Names> = Names extends readonly string[] ? { readonly [P in Names[number]]: string | number } : never

/** A script's keys and arguments by name; `rest` follows the named arguments (see ScriptDef). */
export interface ScriptCall<N extends NamedScript> {
  keys: Named<Scripts[N]['keys']>
  args: Named<Scripts[N]['args']>
  rest?: readonly (string | number)[]
}

type ScriptFn = (...keysAndArgs: (string | number)[]) => Promise<unknown>

/** The client once SCRIPTS are defined on it (defineScripts). */
export interface ScriptHost {
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void
}

export function defineScripts(redis: ScriptHost): void {
  for (const [name, def] of Object.entries(SCRIPTS) as [ScriptName, ScriptDef][])
    redis.defineCommand(name, { lua: def.lua, ...(def.keys ? { numberOfKeys: def.keys.length } : {}) })
}

/**
 * Runs `name` with its keys and arguments in the order SCRIPTS gives: one array, built in a loop,
 * and no closure, since the ring's own scripts run for every routing event.
 */
export function runScript<N extends NamedScript>(redis: ScriptHost, name: N, call: ScriptCall<N>): Promise<unknown> {
  const def: ScriptDef = SCRIPTS[name]
  const keys = call.keys as Record<string, string | number>
  const args = call.args as Record<string, string | number>
  const flat: (string | number)[] = []
  for (const key of def.keys ?? []) flat.push(keys[key] as string | number)
  for (const arg of def.args ?? []) flat.push(args[arg] as string | number)
  if (call.rest !== undefined) for (const value of call.rest) flat.push(value)
  return callScript(redis, name, flat)
}

/** Runs a script whose number of keys varies per call (pgwWriteBehind): the count goes first. */
export function runVariadicScript(
  redis: ScriptHost,
  name: Exclude<ScriptName, NamedScript>,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  return callScript(redis, name, [keys.length, ...keys, ...args])
}

function callScript(redis: ScriptHost, name: ScriptName, keysAndArgs: (string | number)[]): Promise<unknown> {
  // ioredis adds each defined script as a method of the client (defineCommand).
  const fn = (redis as unknown as Record<ScriptName, ScriptFn>)[name]
  return fn.apply(redis, keysAndArgs)
}
