import type { Registry } from 'prom-client';
import { createKubernetesJobRunner } from '../adapters/kubernetes/kubernetes-job-runner.js';
import { createLocalArtifactStore } from '../adapters/local/local-artifact-store.js';
import { createMemoryBus } from '../adapters/memory/memory-bus.js';
import { createMemoryRateLimitStore } from '../adapters/memory/memory-rate-limit-store.js';
import { connectNatsBus } from '../adapters/nats/nats-bus.js';
import { createOnnxRuntime } from '../adapters/onnx/onnx-runtime.js';
import { openPgliteDatabase } from '../adapters/pglite/pglite-database.js';
import { openPostgresDatabase } from '../adapters/postgres/postgres-database.js';
import { createRedisRateLimitStore } from '../adapters/redis/redis-rate-limit-store.js';
import { openAiRuntime, v2RemoteRuntime } from '../adapters/remote/remote-runtime.js';
import { tfjsRuntime } from '../adapters/tfjs/tfjs-runtime.js';
import type { Clock } from '../kernel/clock.js';
import type { Config } from '../kernel/config.js';
import type { Adapters } from '../kernel/module.js';
import type { ArtifactStore } from '../ports/artifact-store.js';
import type { Database } from '../ports/database.js';
import type { EventBus } from '../ports/event-bus.js';

// The only place that knows every adapter: the config names one per port, this opens it.

/** Opens the database the config selects. */
export function openDatabase(config: Config['database']): Promise<Database> {
  return config.adapter === 'postgres'
    ? openPostgresDatabase(config.url!, config.poolSize)
    : openPgliteDatabase(config.dataDir);
}

/** Opens the event bus the config selects. */
export function openBus(config: Config['bus']): Promise<EventBus> {
  return config.adapter === 'nats'
    ? connectNatsBus({ servers: config.servers, stream: config.stream, subjectPrefix: config.subjectPrefix })
    : Promise.resolve(createMemoryBus());
}

/** Opens the artifact store the config selects. */
export function openArtifactStore(config: Config['artifacts']): ArtifactStore {
  return createLocalArtifactStore(config.dir);
}

/** The adapters modules open with settings of their own sections. */
export function moduleAdapters(config: Config, clock: Clock, metrics: Registry): Adapters {
  return {
    rateLimitStore: (options) =>
      options.kind === 'redis'
        ? createRedisRateLimitStore({ url: config.redis.url, keyPrefix: options.keyPrefix })
        : createMemoryRateLimitStore({ clock, maxKeys: options.memoryMaxKeys, metrics }),
    modelRuntimes: (options) => ({
      tfjs: tfjsRuntime,
      onnx: createOnnxRuntime(options.onnx),
      v2: v2RemoteRuntime,
      openai: openAiRuntime,
    }),
    taskProcessEntry: new URL('./task-process.mjs', import.meta.url).pathname,
    kubernetesJobs: createKubernetesJobRunner,
  };
}
