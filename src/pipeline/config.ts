import { type Static, Type } from '@sinclair/typebox';

/**
 * The training API's listener port when none is configured: the main port + 2 (8082 beside
 * 8080 and inference's 8081), so `--port` moves every listener; a main port of 0 gives 0.
 */
export function trainingPortFor(mainPort: number): number {
  return mainPort === 0 || mainPort >= 65_534 ? 0 : mainPort + 2;
}

/** The `pipeline:` section. */
export const PipelineConfig = Type.Object(
  {
    server: Type.Object(
      {
        host: Type.String({ default: '127.0.0.1', description: 'Address of the training API listener.' }),
        port: Type.Optional(
          Type.Integer({
            minimum: 0,
            maximum: 65_535,
            description:
              'Port of the training API listener; default server.port + 2 (8082), or 0 when server.port is 0.',
          }),
        ),
      },
      { default: {} },
    ),
    leaseMs: Type.Integer({
      minimum: 500,
      default: 30_000,
      description: 'A claimed task is leased for this long; its worker renews the lease while it runs.',
    }),
    agingMs: Type.Integer({
      minimum: 1,
      default: 60_000,
      description: 'A waiting task gains one priority point per this many ms, so nothing starves.',
    }),
    workerTtlMs: Type.Integer({
      minimum: 500,
      default: 30_000,
      description: 'A worker without a heartbeat for this long is not live.',
    }),
    monitorIntervalMs: Type.Integer({
      minimum: 50,
      default: 30_000,
      description: 'How often expired leases are reaped and waiting tasks get their reason.',
    }),
    discoveryTtlMs: Type.Integer({ minimum: 1_000, default: 15_000 }),
    experiments: Type.Object(
      {
        tickMs: Type.Integer({
          minimum: 10,
          default: 500,
          description:
            'How often the experiment controller reads trial progress, stops weak trials and starts new ones.',
        }),
        leaseMs: Type.Integer({
          minimum: 100,
          default: 10_000,
          description:
            'An experiment is driven by one controller at a time; another takes over after this long.',
        }),
      },
      { default: {} },
    ),
  },
  { default: {} },
);
export type PipelineConfig = Static<typeof PipelineConfig>;
