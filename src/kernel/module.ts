import type { Registry } from 'prom-client';
import type { ArtifactStore } from '../ports/artifact-store.js';
import type { Database } from '../ports/database.js';
import type { EventBus } from '../ports/event-bus.js';
import type { JobRunner, KubernetesOptions } from '../ports/job-runner.js';
import type { ModelRuntime, ModelRuntimeOptions } from '../ports/model-runtime.js';
import type { RateLimitStore, RateLimitStoreOptions } from '../ports/rate-limit-store.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { HttpServer } from './http.js';
import type { Logger } from './logger.js';
import type { Random } from './random.js';

/**
 * The typed APIs modules offer each other. Each module adds its own entry with declaration
 * merging in its index.ts: `declare module '../kernel/module.js' { interface ModuleApis { x: XApi } }`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging
export interface ModuleApis {}

/**
 * Adapters a module opens with settings of its own section (the wiring layer decides which
 * implementation each setting names); the process-wide ports are on the context itself.
 */
export interface Adapters {
  /** A rate-limit store: in this process (`memory`) or shared by every process (`redis`). */
  rateLimitStore(options: RateLimitStoreOptions): RateLimitStore;
  /** Every model runtime this process can load, by format (`tfjs`, `onnx`, `v2`, `openai`). */
  modelRuntimes(options: ModelRuntimeOptions): Record<string, ModelRuntime>;
  /** The file a worker forks to run one stage in a task process of its own (the local executor). */
  taskProcessEntry: string;
  /** Runs stages as container jobs on a Kubernetes cluster (the Kubernetes executor). */
  kubernetesJobs(options: KubernetesOptions): JobRunner;
}

/** What a module receives at start: the process's ports, and its dependencies' APIs. */
export interface ModuleContext {
  config: Config;
  logger: Logger;
  metrics: Registry;
  clock: Clock;
  random: Random;
  db: Database;
  bus: EventBus;
  artifacts: ArtifactStore;
  http: HttpServer;
  adapters: Adapters;
  /** The API of a module this one depends on (must be listed in `deps`). */
  use<K extends keyof ModuleApis>(name: K): ModuleApis[K];
  /** The API of an optional dependency when it runs in this process (listed in `optionalDeps`). */
  tryUse<K extends keyof ModuleApis>(name: K): ModuleApis[K] | undefined;
}

/** Readiness as /readyz reports it; `placeholder` modules are listed but not counted. */
export interface Readiness {
  status: 'ready' | 'starting' | 'degraded' | 'placeholder';
  detail?: string;
}

/** A started module. */
export interface ModuleInstance {
  api?: unknown;
  ready(): Readiness;
  /** Stop taking work, drain in-flight work (until `deadline`, epoch ms), release resources. */
  stop(deadline: number): Promise<void>;
  /**
   * How long this module keeps serving, and stays ready, after a required dependency became
   * unreachable (e.g. the gateway on cached API keys); 0 or absent: not ready at once.
   */
  outageGraceMs?: Partial<Record<Dependency, number>>;
}

/** A shared service a module may need to do its work. */
export type Dependency = 'database' | 'bus';

/** An unreachable dependency: why, and since when (epoch ms). */
export interface Outage {
  problem: string;
  since: number;
}

/** One row of the module table (src/app/modules.ts). */
export interface ModuleDefinition {
  name: string;
  deps: string[];
  /** Shared services without which this module cannot serve: it is not ready while one is unreachable. */
  requires?: Dependency[];
  /** Modules used when the target runs them too (started first then), never started for this one. */
  optionalDeps?: string[];
  /** Folder of this module's `NNN_name.sql` migrations. */
  migrations?: string;
  init(ctx: ModuleContext): Promise<ModuleInstance>;
}

/** A module whose issue has not landed: it starts, serves nothing, and says so in /readyz. */
export function placeholderModule(name: string, deps: string[], what: string): ModuleDefinition {
  return {
    name,
    deps,
    init: async () => ({
      ready: () => ({ status: 'placeholder', detail: `${name}: ${what} is not built yet` }),
      stop: async () => {},
    }),
  };
}
