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
    executor: Type.Union([Type.Literal('local'), Type.Literal('kubernetes')], {
      default: 'local',
      description:
        'Where command stages run: `local` (child processes of this worker) or `kubernetes` (a Job each); data stages run locally.',
    }),
    kubernetes: Type.Object(
      {
        namespace: Type.String({ minLength: 1, maxLength: 63, default: 'ai-training' }),
        image: Type.String({
          minLength: 1,
          default: 'python:3.12-slim',
          description: 'Container image of a command stage without `params.image`.',
        }),
        server: Type.Optional(
          Type.String({ description: 'API server URL (with token); default: kubeconfig.' }),
        ),
        token: Type.Optional(Type.String({ description: 'Bearer token for `server`.' })),
        kubeconfig: Type.Optional(
          Type.String({ description: 'Default: $KUBECONFIG, ~/.kube/config, in-cluster.' }),
        ),
        skipTlsVerify: Type.Boolean({ default: false }),
        pollMs: Type.Integer({
          minimum: 10,
          default: 2_000,
          description: 'How often a Job’s status is read.',
        }),
        dataRoot: Type.String({
          default: '/data',
          description:
            'Where the pod sees the artifact store: TRAINING_DATA_PATH and MODEL_SAVE_PATH lie under it.',
        }),
        logLevel: Type.String({ default: 'info', description: 'LOG_LEVEL given to the pod.' }),
      },
      { default: {} },
    ),
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
