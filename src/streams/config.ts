import { type Static, Type } from '@sinclair/typebox';

/** An outgoing webhook: the events it receives, signed with its secret. */
export const WebhookConfig = Type.Object(
  {
    url: Type.String({ pattern: '^https?://', description: 'Where the events are POSTed.' }),
    secret: Type.String({
      minLength: 16,
      description: 'HMAC-SHA256 key; the signature is sent as `X-Aimesh-Signature: sha256=<hex>`.',
    }),
    types: Type.Array(Type.String({ minLength: 1 }), {
      default: ['ai.alert.raised'],
      description: 'Event types sent (NATS-style patterns: `ai.alert.*`).',
    }),
    maxAttempts: Type.Integer({ minimum: 1, maximum: 20, default: 5 }),
    timeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 5_000 }),
  },
  { additionalProperties: false },
);
export type WebhookConfig = Static<typeof WebhookConfig>;

/** The `streams:` section of the configuration. */
export const StreamsConfig = Type.Object(
  {
    group: Type.String({
      minLength: 1,
      pattern: '^[A-Za-z0-9_-]+$',
      default: 'ai-system',
      description: "The handlers' consumer group (processes sharing it share the work).",
    }),
    concurrency: Type.Integer({
      minimum: 1,
      maximum: 1_000,
      default: 3,
      description: 'Handlers running at once per process.',
    }),
    maxDeliveries: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 5,
      description: 'Deliveries of a failing event before it goes to aimesh.dlq.<group> with its error.',
    }),
    ackWaitMs: Type.Integer({
      minimum: 100,
      default: 30_000,
      description: 'An unacknowledged event is redelivered after this long.',
    }),
    retryDelayMs: Type.Integer({
      minimum: 0,
      default: 200,
      description: 'First wait before a failed event is redelivered (doubles each time).',
    }),
    latencyAlertMs: Type.Number({
      minimum: 0,
      default: 1_000,
      description: 'An inference slower than this raises ai.alert.raised.',
    }),
    autoDeploy: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        minAccuracy: Type.Number({ minimum: 0, maximum: 1, default: 0.95 }),
        minImprovement: Type.Number({
          default: 0.1,
          description: 'Over the version the alias points at now.',
        }),
        alias: Type.String({ minLength: 1, default: 'production' }),
      },
      { default: {}, additionalProperties: false },
    ),
    webhooks: Type.Array(WebhookConfig, { default: [] }),
    windows: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Run the stream processor in this process.' }),
        consumer: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_-]+$', default: 'ai-stream' }),
        sizeMs: Type.Integer({
          minimum: 100,
          default: 5_000,
          description: 'Tumbling window length (event time).',
        }),
        advanceMs: Type.Optional(
          Type.Integer({
            minimum: 100,
            description: 'Hopping windows: a new window starts this often (at most sizeMs).',
          }),
        ),
        graceMs: Type.Integer({
          minimum: 0,
          default: 2_000,
          description: 'A window accepts late events this long after its end.',
        }),
        maxFutureMs: Type.Integer({
          minimum: 0,
          default: 60_000,
          description: 'An event stamped further ahead of the wall clock never advances stream time.',
        }),
        maxLatencyMs: Type.Number({
          minimum: 1,
          default: 10_000,
          description: 'Latencies at or above are dropped as outliers.',
        }),
        commitIntervalMs: Type.Integer({
          minimum: 10,
          default: 100,
          description: 'How often the position and open windows are stored (and the events acknowledged).',
        }),
        inFlight: Type.Integer({
          minimum: 1,
          maximum: 100_000,
          default: 4_096,
          description: 'Events held unacknowledged between commits.',
        }),
        maxOpenWindows: Type.Integer({
          minimum: 1,
          default: 100_000,
          description: 'Open windows at most (keys x windows).',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { default: {}, additionalProperties: false },
);
export type StreamsConfig = Static<typeof StreamsConfig>;
