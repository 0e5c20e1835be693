import { availableParallelism, hostname, totalmem } from 'node:os';
import { type Static, Type } from '@sinclair/typebox';

/** The `worker:` section. */
export const WorkerConfig = Type.Object(
  {
    name: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Shown in `aimesh workers ls`; default the host name and pid.',
      }),
    ),
    concurrency: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 2,
      description: 'Task processes this worker runs at once.',
    }),
    capacity: Type.Object(
      {
        cpu: Type.Optional(Type.Number({ minimum: 0, description: 'Cores offered; default this host’s.' })),
        memoryMb: Type.Optional(
          Type.Integer({ minimum: 0, description: 'Memory offered; default this host’s.' }),
        ),
        gpu: Type.Integer({ minimum: 0, default: 0 }),
        storageMb: Type.Integer({ minimum: 0, default: 102_400 }),
      },
      { default: {} },
    ),
    labels: Type.Record(Type.String(), Type.String(), { default: {} }),
    pollMs: Type.Integer({
      minimum: 10,
      default: 500,
      description: 'Wait between claims when the queue is empty.',
    }),
    heartbeatMs: Type.Integer({
      minimum: 50,
      default: 5_000,
      description:
        'How often the worker heartbeats and renews its leases (keep well under pipeline.leaseMs).',
    }),
  },
  { default: {} },
);
export type WorkerConfig = Static<typeof WorkerConfig>;

/** The capacity a worker offers: configured, else this host's cores and memory. */
export function workerCapacity(config: WorkerConfig) {
  return {
    cpu: config.capacity.cpu ?? availableParallelism(),
    memoryMb: config.capacity.memoryMb ?? Math.floor(totalmem() / 1024 / 1024),
    gpu: config.capacity.gpu,
    storageMb: config.capacity.storageMb,
  };
}

/** A worker's default name. */
export const defaultWorkerName = () => `${hostname()}:${process.pid}`;
