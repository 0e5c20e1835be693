import { BatchV1Api, KubeConfig, type V1Job } from '@kubernetes/client-node';
import type { JobPhase, JobRunner, JobSpec, KubernetesOptions } from '../../ports/job-runner.js';

/** A Kubernetes quantity of MiB: whole GiB as `Gi`, else `Mi`. */
export function mebibytes(mb: number): string {
  return mb % 1024 === 0 ? `${mb / 1024}Gi` : `${mb}Mi`;
}

/** A Kubernetes CPU quantity: whole cores as a number, else millicores. */
export function cores(cpu: number): string {
  return Number.isInteger(cpu) ? String(cpu) : `${Math.ceil(cpu * 1000)}m`;
}

/**
 * The batch/v1 Job for a stage: one pod, never restarted (aimesh retries a failed attempt
 * itself, with backoff, possibly elsewhere), bounded by the stage's timeout, removed an hour
 * after it ends. GPUs are an extended resource, so they go in limits (requests follow them).
 */
export function jobManifest(spec: JobSpec): V1Job {
  const requests: Record<string, string> = {
    cpu: cores(spec.resources.cpu),
    memory: mebibytes(spec.resources.memoryMb),
  };
  if (spec.resources.storageMb > 0) requests['ephemeral-storage'] = mebibytes(spec.resources.storageMb);
  const limits: Record<string, string> = { memory: requests.memory };
  if (spec.resources.gpu > 0) limits['nvidia.com/gpu'] = String(spec.resources.gpu);
  if (spec.resources.gpu > 0) requests['nvidia.com/gpu'] = String(spec.resources.gpu);
  const labels = { 'app.kubernetes.io/managed-by': 'aimesh', ...spec.labels };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: spec.name, namespace: spec.namespace, labels },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: Math.max(1, Math.ceil(spec.timeoutMs / 1000)),
      ttlSecondsAfterFinished: 3600,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          ...(Object.keys(spec.nodeSelector).length > 0 ? { nodeSelector: spec.nodeSelector } : {}),
          containers: [
            {
              name: 'stage',
              image: spec.image,
              command: spec.command,
              env: Object.entries(spec.env).map(([name, value]) => ({ name, value })),
              resources: { requests, limits },
            },
          ],
        },
      },
    },
  };
}

/** Where a job is, from its status: succeeded or failed once a condition says so. */
export function phaseOf(job: V1Job): { phase: JobPhase; detail: string } {
  const status = job.status ?? {};
  const condition = (type: string) =>
    (status.conditions ?? []).find((c) => c.type === type && c.status === 'True');
  const failed = condition('Failed');
  if (failed || (status.failed ?? 0) > 0)
    return {
      phase: 'failed',
      detail: failed ? `${failed.reason ?? 'Failed'}: ${failed.message ?? ''}`.trim() : 'a pod failed',
    };
  if (condition('Complete') || (status.succeeded ?? 0) > 0) return { phase: 'succeeded', detail: 'complete' };
  if ((status.active ?? 0) > 0) return { phase: 'running', detail: `${status.active} pod(s) active` };
  return { phase: 'pending', detail: 'waiting for a pod' };
}

function clusterConfig(options: KubernetesOptions): KubeConfig {
  const config = new KubeConfig();
  if (options.server)
    config.loadFromClusterAndUser(
      { name: 'aimesh', server: options.server, skipTLSVerify: options.skipTlsVerify ?? false },
      { name: 'aimesh', ...(options.token ? { token: options.token } : {}) },
    );
  else if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
  else config.loadFromDefault();
  return config;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** A JobRunner on a Kubernetes cluster, through its API server. */
export function createKubernetesJobRunner(options: KubernetesOptions): JobRunner {
  const batch = clusterConfig(options).makeApiClient(BatchV1Api);
  return {
    async run(spec, onPhase, signal) {
      if (signal.aborted) throw signal.reason;
      await batch.createNamespacedJob({ namespace: spec.namespace, body: jobManifest(spec) });
      onPhase('submitted', `job ${spec.namespace}/${spec.name}`);
      let last: JobPhase = 'submitted';
      try {
        while (!signal.aborted) {
          const job = await batch.readNamespacedJobStatus({ name: spec.name, namespace: spec.namespace });
          const { phase, detail } = phaseOf(job);
          if (phase !== last) onPhase(phase, detail);
          last = phase;
          if (phase === 'succeeded') return;
          if (phase === 'failed') throw new Error(`job ${spec.name} failed: ${detail}`);
          await sleep(options.pollMs, signal);
        }
        throw signal.reason;
      } finally {
        if (signal.aborted)
          await batch
            .deleteNamespacedJob({
              name: spec.name,
              namespace: spec.namespace,
              propagationPolicy: 'Background',
            })
            .catch((error: Error) => onPhase(last, `could not delete the job: ${error.message}`));
      }
    },
  };
}
