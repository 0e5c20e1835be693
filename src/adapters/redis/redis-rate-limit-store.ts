import { Redis } from 'ioredis';
import {
  type RateLimitDecision,
  type RateLimitStore,
  type TokenBucketRule,
  tokenBucketDecision,
} from '../../ports/rate-limit-store.js';

// One script per check: read, refill, debit and write happen atomically inside Redis, so any
// number of gateway processes share one bucket exactly. Time comes from the Redis server so
// the gateways' clocks cannot disagree about refills. Tokens travel as strings because Redis
// truncates Lua numbers to integers in replies.
const TAKE_SCRIPT = `
local capacity = tonumber(ARGV[1])
local perMs = tonumber(ARGV[2]) / 1000
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
else
  tokens = math.min(capacity, tokens + math.max(0, now - at) * perMs)
end
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / perMs) + 1000)
return { allowed, tostring(tokens) }
`;

const FIRST_CONNECT_WAIT_MS = 1_000;

type WithTake = Redis & {
  aimeshTakeToken(key: string, capacity: number, refill: number, cost: number): Promise<[number, string]>;
};

/** Options of the Redis store: a URL (the store owns that connection) or a client to share. */
export interface RedisRateLimitStoreOptions {
  url?: string;
  client?: Redis;
  /** Prefix of every key, e.g. `aimesh:rl:`. */
  keyPrefix: string;
  /** Connection errors (the client reconnects by itself); checks made meanwhile fail on their own. */
  onConnectionError?: (error: Error) => void;
}

/** Token buckets in Redis, shared by every gateway process that uses the same Redis and prefix. */
export function createRedisRateLimitStore(options: RedisRateLimitStoreOptions): RateLimitStore {
  const owned = !options.client;
  const redis = (options.client ??
    new Redis(options.url ?? 'redis://127.0.0.1:6379', {
      // A check must never hold a request up for long: while Redis is away, checks wait at most
      // commandTimeout and then fail, and the caller decides (the gateway lets the call through).
      maxRetriesPerRequest: 1,
      commandTimeout: 250,
      // No queue while disconnected: a check made during an outage fails at once (the caller
      // lets the call through) instead of waiting and then debiting the bucket again when
      // Redis returns, which refused callers who were under their limit.
      enableOfflineQueue: false,
    })) as WithTake;
  // Until the first connection the store waits for it (briefly), so a fresh gateway does not
  // let its first calls through unchecked; after that an outage fails fast.
  let connecting: Promise<unknown> | undefined =
    owned && redis.status !== 'ready'
      ? Promise.race([
          new Promise((resolve) => redis.once('ready', resolve)),
          // Refused outright: no reason to wait any longer.
          new Promise((resolve) => redis.once('error', resolve)),
          new Promise((resolve) => setTimeout(resolve, FIRST_CONNECT_WAIT_MS).unref()),
        ]).then(() => {
          connecting = undefined;
        })
      : undefined;
  // Without a listener ioredis prints every failed reconnect; failed checks are counted by the caller.
  if (owned) redis.on('error', (error: Error) => options.onConnectionError?.(error));
  // defineCommand sends EVALSHA and falls back to EVAL once when Redis does not know the script yet.
  if (typeof redis.aimeshTakeToken !== 'function') {
    redis.defineCommand('aimeshTakeToken', { lua: TAKE_SCRIPT, numberOfKeys: 1 });
  }
  return {
    async take(key: string, rule: TokenBucketRule, cost = 1): Promise<RateLimitDecision> {
      if (connecting) await connecting;
      const [allowed, tokens] = await redis.aimeshTakeToken(
        options.keyPrefix + key,
        rule.capacity,
        rule.refillPerSecond,
        cost,
      );
      return tokenBucketDecision(rule, Number(tokens), allowed === 1, cost);
    },
    async close() {
      if (owned) await redis.quit().catch(() => redis.disconnect());
    },
  };
}
