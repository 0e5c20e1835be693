/**
 * The JobRunner port: runs one stage as a container job on a cluster and follows it to its
 * end. Adapter: Kubernetes (a batch/v1 Job). The worker keeps the task's lease while it waits,
 * so a worker that dies lets the task run again elsewhere, as with the local executor.
 */

/** What a job asks for: the stage's resources. */
export interface JobResources {
  cpu: number;
  memoryMb: number;
  gpu: number;
  storageMb: number;
}

/** One job: a container running `command` in `image` with `env`, holding `resources`. */
export interface JobSpec {
  /** The job's name, unique per task attempt (`training-job-<id>`). */
  name: string;
  namespace: string;
  image: string;
  command: string[];
  env: Record<string, string>;
  resources: JobResources;
  /** Labels put on the job and its pod. */
  labels: Record<string, string>;
  /** Node labels the pod must be placed on. */
  nodeSelector: Record<string, string>;
  /** The cluster stops the job after this long. */
  timeoutMs: number;
}

/** Where a job is. */
export type JobPhase = 'submitted' | 'pending' | 'running' | 'succeeded' | 'failed';

/** Runs jobs. */
export interface JobRunner {
  /**
   * Submits `spec` and follows it until it succeeds (resolves) or fails (rejects with the
   * cluster's reason); every change of phase is reported. When `signal` aborts, the job is
   * deleted (with its pods) and the call rejects with the signal's reason.
   */
  run(spec: JobSpec, onPhase: (phase: JobPhase, detail: string) => void, signal: AbortSignal): Promise<void>;
}

/** How to reach the cluster. */
export interface KubernetesOptions {
  /** API server URL; with `token`, used instead of a kubeconfig. */
  server?: string;
  token?: string;
  /** A kubeconfig file; default: $KUBECONFIG, ~/.kube/config, or the pod's service account. */
  kubeconfig?: string;
  /** Accept the API server's certificate without checking it (test clusters only). */
  skipTlsVerify?: boolean;
  /** How often a job's status is read while it runs. */
  pollMs: number;
}
