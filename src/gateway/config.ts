import { type Static, Type } from '@sinclair/typebox';
import { AuthConfig } from './auth/config.js';
import { OpenAiConfig } from './openai/config.js';
import { RateLimitConfig } from './rate-limit/config.js';
import { ModelsConfig } from './selection/config.js';

const Target = {
  service: Type.Optional(
    Type.String({ minLength: 1, description: 'Service name, resolved through discovery.' }),
  ),
  upstreams: Type.Optional(
    Type.Array(Type.String({ pattern: '^https?://' }), {
      minItems: 1,
      description: 'Static upstream base URLs.',
    }),
  ),
};

/** A content-based rule: when a header or a JSON body field matches, send the call elsewhere. */
export const ContentMatch = Type.Object(
  {
    header: Type.Optional(
      Type.String({ minLength: 1, description: 'Request header to look at (any case).' }),
    ),
    field: Type.Optional(
      Type.String({ minLength: 1, description: 'Dotted path of a JSON body field, e.g. input.lang.' }),
    ),
    equals: Type.Optional(Type.String({ description: 'Matches when the value is exactly this.' })),
    pattern: Type.Optional(
      Type.String({ description: 'Matches when the value matches this regular expression.' }),
    ),
    ...Target,
  },
  { additionalProperties: false },
);

/** One weighted share of a model's traffic (canary split). */
export const VersionWeight = Type.Object(
  {
    version: Type.String({ minLength: 1 }),
    weight: Type.Number({
      minimum: 0,
      description: 'Relative share; 90 and 10 send one call in ten to the second.',
    }),
  },
  { additionalProperties: false },
);

/** One route: a path prefix and where its calls go. */
export const Route = Type.Object(
  {
    path: Type.String({
      pattern: '^/[^*]*(/\\*\\*)?$',
      description: "A path, or a prefix ending in '/**' (e.g. /api/v1/ai/**).",
    }),
    ...Target,
    stripPrefix: Type.Optional(Type.String({ description: 'Removed from the path before forwarding.' })),
    policy: Type.String({
      default: 'default',
      description: 'Named resilience policy of the breakers on this route.',
    }),
    modelAware: Type.Boolean({
      default: false,
      description:
        'Choose a model (X-Model-Type / body modelType, maxLatency, minAccuracy) and send X-Model-Id/-Version.',
    }),
    match: Type.Array(ContentMatch, {
      default: [],
      description: 'Content-based rules; the first that matches wins.',
    }),
  },
  { additionalProperties: false },
);

/** A breaker policy (Resilience4j's knobs). */
export const BreakerPolicyConfig = Type.Object(
  {
    failureRateThreshold: Type.Number({
      minimum: 0.01,
      maximum: 1,
      description: 'Share of failed calls that opens the breaker.',
    }),
    openMs: Type.Integer({ minimum: 1, description: 'How long it stays open before trial calls.' }),
    slidingWindowSize: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      description: 'Calls in the sliding window.',
    }),
    minimumCalls: Type.Integer({ minimum: 1, description: 'Calls needed before judging.' }),
    halfOpenCalls: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Trial calls in half-open (default 3).' }),
    ),
  },
  { additionalProperties: false },
);

// The seed's policies: Resilience4j's defaults, and a faster-tripping one for inference.
export const BUILT_IN_POLICIES = {
  default: {
    failureRateThreshold: 0.5,
    openMs: 30_000,
    slidingWindowSize: 10,
    minimumCalls: 5,
    halfOpenCalls: 3,
  },
  inference: {
    failureRateThreshold: 0.6,
    openMs: 15_000,
    slidingWindowSize: 5,
    minimumCalls: 3,
    halfOpenCalls: 3,
  },
};

/** Breakers, retries, timeouts and bulkheads. */
export const ResilienceConfig = Type.Object(
  {
    policies: Type.Record(Type.String(), BreakerPolicyConfig, {
      default: BUILT_IN_POLICIES,
      description:
        'Named breaker policies; `default` applies to routes naming none. Entries given replace the built-in ones of the same name; the others stay.',
    }),
    retry: Type.Object(
      {
        maxAttempts: Type.Integer({
          minimum: 1,
          maximum: 10,
          default: 3,
          description: 'Attempts in all, the first included.',
        }),
        baseDelayMs: Type.Integer({
          minimum: 0,
          default: 1_000,
          description: 'Backoff before the first retry.',
        }),
        maxDelayMs: Type.Integer({
          minimum: 0,
          default: 10_000,
          description: 'Longest backoff; a longer Retry-After is not waited for.',
        }),
        budgetRatio: Type.Number({
          minimum: 0,
          maximum: 1,
          default: 0.2,
          description: 'Retries as a share of requests.',
        }),
        budgetMinPerSecond: Type.Number({
          minimum: 0,
          default: 10,
          description: 'Retries always allowed per second.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    timeouts: Type.Object(
      {
        connectMs: Type.Integer({ minimum: 1, default: 10_000, description: 'Connect timeout.' }),
        readMs: Type.Integer({
          minimum: 1,
          default: 30_000,
          description: 'Read timeout (to headers, and between body chunks).',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    bulkhead: Type.Object(
      {
        maxConcurrent: Type.Integer({
          minimum: 1,
          default: 512,
          description: 'Calls in flight per upstream instance.',
        }),
        lowPriorityShare: Type.Number({
          minimum: 0,
          maximum: 1,
          default: 0.8,
          description: 'Low-priority calls are shed once this share of the slots is busy.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { default: {}, additionalProperties: false },
);

/** The `gateway:` config section. */
export const GatewayConfig = Type.Object(
  {
    auth: AuthConfig,
    rateLimit: RateLimitConfig,
    models: ModelsConfig,
    openai: OpenAiConfig,
    routes: Type.Array(Route, {
      default: [
        { path: '/api/v1/ai/**', service: 'model-inference', policy: 'inference', modelAware: true },
        { path: '/v2/**', service: 'model-inference', policy: 'inference', modelAware: true },
        { path: '/api/v1/training/**', service: 'model-training' },
      ],
      description: 'Routes; the longest matching path wins.',
    }),
    versions: Type.Record(Type.String(), Type.Array(VersionWeight, { minItems: 1 }), {
      default: {},
      description: 'Canary splits per model id, used when the caller sends no X-Model-Version.',
    }),
    balancer: Type.Union(
      [Type.Literal('p2c-ewma'), Type.Literal('least-outstanding'), Type.Literal('round-robin')],
      {
        default: 'p2c-ewma',
        description: 'How an instance is picked among the live ones.',
      },
    ),
    resilience: ResilienceConfig,
    events: Type.Boolean({
      default: true,
      description: 'Record ai.inference.completed / failed for each proxied call.',
    }),
  },
  { default: {}, additionalProperties: false },
);
export type GatewayConfig = Static<typeof GatewayConfig>;
export type RouteConfig = Static<typeof Route>;
export type ContentMatchConfig = Static<typeof ContentMatch>;
