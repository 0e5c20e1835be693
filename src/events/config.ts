import { type Static, Type } from '@sinclair/typebox';

/** The `events:` section of the config file. */
export const EventsConfig = Type.Object(
  {
    relay: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'Run the outbox relay in this process (one process at a time wins the lease).',
        }),
        batchSize: Type.Integer({
          minimum: 1,
          maximum: 10_000,
          default: 500,
          description: 'Events read and published per round; the cursor is saved after each.',
        }),
        pollIntervalMs: Type.Integer({
          minimum: 10,
          maximum: 60_000,
          default: 500,
          description: "How often to look for other processes' appends (local appends wake it at once).",
        }),
        leaseMs: Type.Integer({
          minimum: 1_000,
          default: 15_000,
          description: 'How long the relay lease lasts unless renewed; a crashed relay is replaced after it.',
        }),
        maxBackoffMs: Type.Integer({
          minimum: 10,
          default: 10_000,
          description: 'Longest wait between retries while the bus is down.',
        }),
      },
      { default: {} },
    ),
    append: Type.Object(
      {
        flushIntervalMs: Type.Integer({
          minimum: 1,
          maximum: 10_000,
          default: 50,
          description:
            'How long events queued by hot paths (a proxied call, an inference) wait to be stored together: one statement per interval.',
        }),
        batchSize: Type.Integer({
          minimum: 1,
          maximum: 10_000,
          default: 500,
          description: 'A batch this large is stored at once, before its interval ends.',
        }),
        maxBuffered: Type.Integer({
          minimum: 1,
          default: 10_000,
          description:
            'Queued events at most; beyond it (the store down or too slow) events are dropped and counted.',
        }),
      },
      { default: {} },
    ),
    stream: Type.Object(
      {
        clientBufferSize: Type.Integer({
          minimum: 1,
          default: 1_000,
          description:
            'Events held for one live-stream client; a client that falls further behind is dropped.',
        }),
        heartbeatMs: Type.Integer({
          minimum: 100,
          default: 15_000,
          description: 'Comment line sent to idle live-stream clients so proxies keep the connection.',
        }),
      },
      { default: {} },
    ),
  },
  { default: {} },
);
export type EventsConfig = Static<typeof EventsConfig>;
