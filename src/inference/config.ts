import { type Static, Type } from '@sinclair/typebox';

/** Dynamic batching knobs; the module-wide defaults, overridable per model in its config.json. */
export const BatchingConfig = Type.Object(
  {
    maxBatchSize: Type.Integer({
      minimum: 0,
      maximum: 4096,
      default: 32,
      description: 'Most rows merged into one runtime call; 0 or 1 = no batching.',
    }),
    maxQueueDelayMicros: Type.Integer({
      minimum: 0,
      maximum: 10_000_000,
      default: 2_000,
      description: 'Longest a request waits for others to join its batch.',
    }),
    preferredBatchSizes: Type.Array(Type.Integer({ minimum: 1 }), {
      default: [],
      description: 'Sizes dispatched at once when available.',
    }),
    maxQueueSize: Type.Integer({
      minimum: 1,
      default: 1_024,
      description: 'Requests waiting per model version; beyond it 503 + Retry-After.',
    }),
    timeoutMs: Type.Integer({
      minimum: 0,
      default: 30_000,
      description: 'A request still queued after this long fails with 504 (0 = never).',
    }),
  },
  { default: {} },
);
export type BatchingConfig = Static<typeof BatchingConfig>;

/**
 * The inference listener's port when none is configured: the main port + 1 (8081 beside 8080,
 * as Triton's ports sit side by side), so `--port` moves both and a second instance on another
 * port does not collide; a main port of 0 (any free port) gives 0 here too.
 */
export function inferencePortFor(mainPort: number): number {
  return mainPort === 0 || mainPort >= 65_535 ? 0 : mainPort + 1;
}

/** The `inference:` section. */
export const InferenceConfig = Type.Object(
  {
    server: Type.Object(
      {
        host: Type.String({
          default: '127.0.0.1',
          description: 'Address of the inference listener (data plane).',
        }),
        port: Type.Optional(
          Type.Integer({
            minimum: 0,
            maximum: 65_535,
            description:
              'Port of the inference listener (0 = any free port); default server.port + 1 (8081), or 0 when server.port is 0.',
          }),
        ),
        bodyLimitBytes: Type.Integer({
          minimum: 1024,
          default: 16 * 1024 * 1024,
          description: 'Largest inference request body.',
        }),
      },
      { default: {} },
    ),
    modelsDir: Type.Optional(
      Type.String({
        description:
          'Model repository: <dir>/<model>/<version>/model.onnx | model.json, optional <dir>/<model>/config.json.',
      }),
    ),
    modelFiles: Type.Array(Type.String(), {
      default: [],
      description:
        'Single model files (.onnx, or a TF.js model.json) served as version 1, named after the file.',
    }),
    models: Type.Array(
      Type.Object({
        model: Type.String({ minLength: 1 }),
        ref: Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })], {
          default: 'production',
        }),
      }),
      {
        default: [],
        description: 'Registry models to serve: version number or alias (production, latest, ...).',
      },
    ),
    followAliases: Type.Array(Type.String({ minLength: 1 }), {
      default: ['production'],
      description:
        'Registry aliases whose promotions this server loads and serves, even for models not listed in models ([] = only listed ones).',
    }),
    batching: BatchingConfig,
    onnx: Type.Object(
      {
        intraOpThreads: Type.Integer({
          minimum: 0,
          default: 0,
          description: 'Threads per ONNX Runtime run (0 = one per core).',
        }),
        spinning: Type.Boolean({
          default: true,
          description:
            'Let idle ONNX Runtime threads spin (its default; off gives CPU back to other processes).',
        }),
        sessionThreads: Type.Boolean({
          default: true,
          description:
            "Run each loaded ONNX model on a worker thread of its own, so a batch's compute never stalls the server's thread (false: on the server's thread).",
        }),
      },
      { default: {} },
    ),
    preferOnnx: Type.Boolean({
      default: true,
      description: 'Serve the ONNX file when a version has both ONNX and TF.js.',
    }),
    maxVersionsPerModel: Type.Integer({
      minimum: 1,
      default: 3,
      description: 'Versions of one model kept loaded; the oldest unaliased one is unloaded first.',
    }),
    cache: Type.Object(
      {
        maxEntries: Type.Integer({ minimum: 0, default: 0, description: 'LRU result cache size (0 = off).' }),
      },
      { default: {} },
    ),
    zone: Type.String({ default: 'local', description: 'Zone reported in discovery metadata.' }),
    discoveryTtlMs: Type.Integer({
      minimum: 1_000,
      default: 15_000,
      description: 'TTL of the discovery registration (heartbeats keep it alive).',
    }),
    loadRetryMs: Type.Integer({
      minimum: 100,
      default: 5_000,
      description: 'Wait between retries of configured models that failed to load.',
    }),
  },
  { default: {} },
);
export type InferenceConfig = Static<typeof InferenceConfig>;

/** A model's own settings, from `<modelsDir>/<model>/config.json`. */
export const ModelConfig = Type.Object(
  {
    type: Type.Optional(
      Type.String({ description: 'Task/type the seed endpoint selects by, e.g. classification.' }),
    ),
    platform: Type.Optional(
      Type.Union([Type.Literal('tfjs'), Type.Literal('onnx'), Type.Literal('v2'), Type.Literal('openai')]),
    ),
    batching: Type.Optional(Type.Partial(BatchingConfig)),
    aliases: Type.Optional(Type.Record(Type.String(), Type.Integer({ minimum: 1 }))),
    canary: Type.Optional(Type.Record(Type.String(), Type.Number({ minimum: 0 }))),
    remote: Type.Optional(
      Type.Object({
        url: Type.String(),
        model: Type.Optional(Type.String()),
        apiKeyEnv: Type.Optional(
          Type.String({ description: 'Environment variable holding the upstream API key.' }),
        ),
      }),
    ),
  },
  { additionalProperties: false },
);
export type ModelConfig = Static<typeof ModelConfig>;
