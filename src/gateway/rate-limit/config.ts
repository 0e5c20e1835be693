import { type Static, Type } from '@sinclair/typebox';

/** One token-bucket rule for the routes matching `route`. */
export const RateLimitRule = Type.Object(
  {
    route: Type.String({
      description: "Path glob: '*' is one segment, '**' any number (e.g. /api/v1/ai/**).",
    }),
    requestsPerSecond: Type.Number({ exclusiveMinimum: 0, description: 'Refill rate of the bucket.' }),
    burst: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Bucket capacity; defaults to one second of requests.' }),
    ),
    per: Type.Union([Type.Literal('key'), Type.Literal('route')], {
      default: 'key',
      description:
        "'key': one bucket per caller (API key / principal); 'route': one bucket shared by all callers.",
    }),
  },
  { additionalProperties: false },
);

/** The gateway's `rateLimit` section. */
export const RateLimitConfig = Type.Object(
  {
    enabled: Type.Boolean({ default: true, description: 'Apply the rules below.' }),
    store: Type.Union([Type.Literal('memory'), Type.Literal('redis')], {
      default: 'memory',
      description:
        'memory: per process; redis: shared by every gateway process (uses the top-level redis.url).',
    }),
    keyPrefix: Type.String({ default: 'aimesh:rl:', description: 'Prefix of the Redis keys.' }),
    memoryMaxKeys: Type.Integer({
      minimum: 1,
      default: 100_000,
      description: 'Most buckets the in-process store keeps (least recently used go first).',
    }),
    rules: Type.Array(RateLimitRule, {
      default: [
        { route: '/api/v1/ai/**', requestsPerSecond: 100, burst: 100, per: 'key' },
        { route: '/v1/**', requestsPerSecond: 100, burst: 100, per: 'key' },
      ],
      description: 'Token buckets; every rule whose route matches is checked.',
    }),
    dailyTokenQuota: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'LLM tokens per caller per day on the OpenAI-compatible routes (unset = no quota).',
      }),
    ),
  },
  { default: {}, additionalProperties: false },
);
export type RateLimitConfig = Static<typeof RateLimitConfig>;
export type RateLimitRule = Static<typeof RateLimitRule>;
