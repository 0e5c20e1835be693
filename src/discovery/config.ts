import { type Static, Type } from '@sinclair/typebox';

/** The `discovery:` config section. */
export const DiscoveryConfig = Type.Object(
  {
    defaultTtlMs: Type.Integer({
      minimum: 1_000,
      default: 15_000,
      description: 'TTL of a registration that names none; an instance silent this long drops out.',
    }),
    heartbeatFraction: Type.Number({
      exclusiveMinimum: 0,
      maximum: 0.5,
      default: 1 / 3,
      description: 'Heartbeats run every ttl × this, so two can be lost before an instance expires.',
    }),
    refreshIntervalMs: Type.Integer({
      minimum: 200,
      default: 5_000,
      description: 'How often the local view re-reads the database, in case a bus message was missed.',
    }),
    sweepIntervalMs: Type.Integer({
      minimum: 50,
      default: 1_000,
      description: 'How often expired instances are dropped from the local view (and the table).',
    }),
    subject: Type.String({
      default: 'aimesh.discovery.changed',
      description: 'Bus subject on which registrations, heartbeats and removals fan out live.',
    }),
    maxInstances: Type.Integer({
      minimum: 1,
      default: 10_000,
      description: 'Bound on instances held in the local view.',
    }),
  },
  { default: {} },
);
export type DiscoveryConfig = Static<typeof DiscoveryConfig>;
