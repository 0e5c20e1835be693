import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createKubernetesJobRunner,
  jobManifest,
} from '../../../src/adapters/kubernetes/kubernetes-job-runner.js';
import type { RunningAimesh } from '../../../src/app/runtime.js';
import type { ClaimedTask, PipelineApi } from '../../../src/pipeline/index.js';
import type { JobPhase } from '../../../src/ports/job-runner.js';
import { jobSpecOf, type KubernetesSettings } from '../../../src/worker/index.js';
import { startTestAimesh } from '../../support/aimesh.js';
import { jobSchemaErrors, unknownFields } from '../../support/kubernetes-schema.js';
import { until } from '../../support/until.js';

interface Recorded {
  method: string;
  path: string;
  authorization?: string;
  body: unknown;
}

/**
 * A loopback server playing the part of the Kubernetes API for batch/v1 Jobs: it records each
 * request, and answers a Job's status reads with the next of `statuses` (the last repeats).
 */
class FakeKubernetesApi {
  readonly requests: Recorded[] = [];
  statuses: Record<string, unknown>[] = [];
  private reads = new Map<string, number>();
  private server?: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer(async (req, res) => {
      const body = await readBody(req);
      const path = req.url ?? '';
      this.requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, body });
      const send = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      const create = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs$/.exec(path);
      const status = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs\/([^/?]+)\/status$/.exec(path);
      const remove = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs\/([^/?]+)/.exec(path);
      if (req.method === 'POST' && create) {
        const job = body as { metadata: Record<string, unknown> };
        return send(201, { ...job, metadata: { ...job.metadata, uid: 'uid-1', resourceVersion: '1' } });
      }
      if (req.method === 'GET' && status) {
        const n = this.reads.get(status[2]) ?? 0;
        this.reads.set(status[2], n + 1);
        const created = this.requests.find((r) => r.method === 'POST')?.body as Record<string, unknown>;
        return send(200, { ...created, status: this.statuses[Math.min(n, this.statuses.length - 1)] ?? {} });
      }
      if (req.method === 'DELETE' && remove)
        return send(200, { kind: 'Status', apiVersion: 'v1', status: 'Success' });
      send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  reset(): void {
    this.requests.length = 0;
    this.reads.clear();
  }

  created(): { metadata: { name: string; namespace: string }; spec: Record<string, unknown> } {
    return this.requests.find((r) => r.method === 'POST')!.body as never;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

const settings: KubernetesSettings = {
  namespace: 'ai-training',
  image: 'ghcr.io/example/trainer:1.0',
  skipTlsVerify: false,
  pollMs: 10,
  dataRoot: '/data',
  logLevel: 'debug',
};

const EXECUTION = '01938c5e-7f00-7000-8000-000000000001';

/** A claimed command stage asking for 2 CPU, 8 GiB, 1 GPU and 100 GiB of scratch storage. */
function claimed(attempt = 1): ClaimedTask {
  return {
    id: `${EXECUTION}/train`,
    executionId: EXECUTION,
    attempt,
    leaseExpiresAt: 0,
    datasetVersion: 'abc123',
    outputs: {},
    definition: {} as ClaimedTask['definition'],
    stage: {
      name: 'train',
      type: 'command',
      dependsOn: [],
      resources: { cpu: 2, memoryMb: 8192, gpu: 1, storageMb: 102_400 },
      env: { EPOCHS: '10' },
      timeoutMs: 3_600_000,
      retry: { maxAttempts: 1, initialBackoffMs: 0, maxBackoffMs: 0 },
      params: { command: ['python', 'train.py'] },
      nodeSelector: { accelerator: 'a100' },
      gang: 1,
    },
  };
}

const api = new FakeKubernetesApi();
beforeAll(() => api.start());
afterAll(() => api.stop());
afterEach(() => api.reset());

describe('the Kubernetes Job of a command stage', () => {
  it('is named training-job-<id>, in ai-training, with the requests, node selector and env', () => {
    const manifest = jobManifest(jobSpecOf(claimed(), settings));
    expect(manifest.metadata?.name).toMatch(
      /^training-job-01938c5e-7f00-7000-8000-000000000001-[0-9a-f]{8}$/,
    );
    expect(manifest.metadata?.name?.length).toBeLessThanOrEqual(63);
    expect(manifest.metadata?.namespace).toBe('ai-training');
    const pod = manifest.spec!.template.spec!;
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.nodeSelector).toEqual({ accelerator: 'a100' });
    const container = pod.containers[0];
    expect(container.image).toBe('ghcr.io/example/trainer:1.0');
    expect(container.command).toEqual(['python', 'train.py']);
    expect(container.resources?.requests).toEqual({
      cpu: '2',
      memory: '8Gi',
      'nvidia.com/gpu': '1',
      'ephemeral-storage': '100Gi',
    });
    expect(container.resources?.limits).toEqual({ memory: '8Gi', 'nvidia.com/gpu': '1' });
    expect(Object.fromEntries(container.env!.map((e) => [e.name, e.value]))).toMatchObject({
      TRAINING_DATA_PATH: '/data/datasets/abc123.csv',
      MODEL_SAVE_PATH: `/data/executions/${EXECUTION}/train/model`,
      EXPERIMENT_ID: EXECUTION,
      LOG_LEVEL: 'debug',
      EPOCHS: '10',
    });
    expect(manifest.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 3600 });
  });

  it('gets another name on another attempt, so a retry never collides with the Job before it', () => {
    expect(jobSpecOf(claimed(2), settings).name).not.toBe(jobSpecOf(claimed(1), settings).name);
  });

  it('writes fractional CPUs as millicores and odd memory as MiB', () => {
    const task = claimed();
    task.stage.resources = { cpu: 0.5, memoryMb: 1500, gpu: 0, storageMb: 0 };
    const requests = jobManifest(jobSpecOf(task, settings)).spec!.template.spec!.containers[0].resources!
      .requests;
    expect(requests).toEqual({ cpu: '500m', memory: '1500Mi' });
  });
});

describe('the Job manifest against the Kubernetes JSON schema (batch/v1, v1.33)', () => {
  /** The manifest of the 2 CPU / 8Gi / 1 GPU / 100Gi stage, as the API server receives it (JSON). */
  const submitted = () => JSON.parse(JSON.stringify(jobManifest(jobSpecOf(claimed(), settings))));
  const container = (manifest: ReturnType<typeof submitted>) => manifest.spec.template.spec.containers[0];

  it('is a valid batch/v1 Job with no field the API does not define', () => {
    const manifest = submitted();
    expect(jobSchemaErrors(manifest)).toEqual([]);
    expect(unknownFields(manifest)).toEqual([]);
  });

  it('stays valid for fractional CPUs, odd memory, no GPU and no storage', () => {
    const task = claimed();
    task.stage.resources = { cpu: 0.25, memoryMb: 1500, gpu: 0, storageMb: 0 };
    task.stage.nodeSelector = {};
    const manifest = JSON.parse(JSON.stringify(jobManifest(jobSpecOf(task, settings))));
    expect(jobSchemaErrors(manifest)).toEqual([]);
    expect(unknownFields(manifest)).toEqual([]);
  });

  it('rejects a memory request given as an object rather than a quantity', () => {
    const manifest = submitted();
    container(manifest).resources.requests.memory = { value: 8, unit: 'Gi' };
    expect(jobSchemaErrors(manifest).join('\n')).toContain(
      '/spec/template/spec/containers/0/resources/requests/memory',
    );
  });

  it('rejects a quantity that is not one, an unknown restart policy and a string backoff limit', () => {
    const bad = submitted();
    container(bad).resources.requests['ephemeral-storage'] = 'a hundred gigs';
    bad.spec.template.spec.restartPolicy = 'Sometimes';
    bad.spec.backoffLimit = '0';
    const errors = jobSchemaErrors(bad).join('\n');
    expect(errors).toContain('/spec/template/spec/containers/0/resources/requests/ephemeral-storage format');
    expect(errors).toContain('/spec/template/spec/restartPolicy enum');
    expect(errors).toContain('/spec/backoffLimit type');
  });

  it('rejects a container without a name, a pod without containers and env values that are not strings', () => {
    const unnamed = submitted();
    delete container(unnamed).name;
    expect(jobSchemaErrors(unnamed).join('\n')).toContain('/spec/template/spec/containers/0 required');
    const empty = submitted();
    delete empty.spec.template.spec.containers;
    expect(jobSchemaErrors(empty).join('\n')).toContain('/spec/template/spec required');
    const numeric = submitted();
    container(numeric).env[0].value = 3;
    expect(jobSchemaErrors(numeric).join('\n')).toContain(
      '/spec/template/spec/containers/0/env/0/value type',
    );
  });

  it('lets a container without an image through, as Kubernetes does, so the executor never builds one', () => {
    // Container.image is optional in the API (controllers may default it), so the schema cannot
    // catch a missing image: a stage with an empty image gets the configured one instead.
    const manifest = submitted();
    delete container(manifest).image;
    expect(jobSchemaErrors(manifest)).toEqual([]);
    const task = claimed();
    task.stage.params = { command: ['python', 'train.py'], image: ' ' };
    expect(jobManifest(jobSpecOf(task, settings)).spec!.template.spec!.containers[0].image).toBe(
      'ghcr.io/example/trainer:1.0',
    );
    task.stage.params = { command: ['python', 'train.py'], image: 'trainer:3' };
    expect(jobManifest(jobSpecOf(task, settings)).spec!.template.spec!.containers[0].image).toBe('trainer:3');
  });

  it('names fields the API does not define, which the schema alone lets through', () => {
    const manifest = submitted();
    container(manifest).resource = container(manifest).resources;
    manifest.spec.template.spec.restartpolicy = 'Never';
    expect(jobSchemaErrors(manifest)).toEqual([]);
    expect(unknownFields(manifest)).toEqual([
      '/spec/template/spec/containers/0/resource',
      '/spec/template/spec/restartpolicy',
    ]);
  });
});

describe('the Kubernetes executor against a loopback API server', () => {
  const runner = () =>
    createKubernetesJobRunner({
      server: api.url,
      token: 'cluster-token',
      pollMs: 10,
      // The loopback server speaks plain HTTP, which the client allows only with this set.
      skipTlsVerify: true,
    });

  it('submits the Job and follows it through pending and running to complete', async () => {
    api.statuses = [
      {},
      { active: 1 },
      { active: 1 },
      { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] },
    ];
    const phases: JobPhase[] = [];
    const spec = jobSpecOf(claimed(), settings);
    await runner().run(spec, (phase) => phases.push(phase), new AbortController().signal);
    expect(phases).toEqual(['submitted', 'pending', 'running', 'succeeded']);
    const post = api.requests.find((r) => r.method === 'POST')!;
    expect(post.path).toBe('/apis/batch/v1/namespaces/ai-training/jobs');
    expect(post.authorization).toBe('Bearer cluster-token');
    expect(post.body).toEqual(JSON.parse(JSON.stringify(jobManifest(spec))));
    expect(jobSchemaErrors(post.body as Record<string, unknown>)).toEqual([]);
    expect(api.requests.some((r) => r.method === 'DELETE')).toBe(false);
  });

  it("rejects with the cluster's reason when the Job fails", async () => {
    api.statuses = [
      { active: 1 },
      {
        failed: 1,
        conditions: [
          { type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'exit code 3' },
        ],
      },
    ];
    await expect(
      runner().run(jobSpecOf(claimed(), settings), () => {}, new AbortController().signal),
    ).rejects.toThrow(/failed: BackoffLimitExceeded: exit code 3/);
  });

  it('deletes the Job with its pods when the stage is stopped', async () => {
    api.statuses = [{ active: 1 }];
    const abort = new AbortController();
    const spec = jobSpecOf(claimed(), settings);
    const running = runner().run(spec, () => {}, abort.signal);
    await until(
      async () => api.requests.filter((r) => r.method === 'GET').length >= 2,
      10_000,
      'the Job to be read',
      10,
    );
    abort.abort(new Error('cancelled'));
    await expect(running).rejects.toThrow('cancelled');
    const deleted = api.requests.find((r) => r.method === 'DELETE')!;
    expect(deleted.path).toContain(`/apis/batch/v1/namespaces/ai-training/jobs/${spec.name}`);
    expect(JSON.stringify(deleted)).toContain('Background');
  });
});

describe('a worker with the Kubernetes executor', () => {
  let aimesh: RunningAimesh;
  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['pipeline', 'worker'],
      config: {
        worker: {
          pollMs: 20,
          heartbeatMs: 100,
          executor: 'kubernetes',
          kubernetes: {
            server: api.url,
            token: 'cluster-token',
            pollMs: 10,
            image: 'trainer:2',
            skipTlsVerify: true,
          },
        },
        pipeline: { monitorIntervalMs: 100 },
      },
    });
    await aimesh.manager
      .api('registry')!
      .pushDataset({ name: 'tiny', data: new TextEncoder().encode('x,y\n1,a\n'), actor: 'test' });
  }, 60_000);
  afterAll(() => aimesh?.stop());

  it('runs a command stage as a Job and the execution succeeds when the Job completes', async () => {
    api.statuses = [{}, { active: 1 }, { succeeded: 1, conditions: [{ type: 'Complete', status: 'True' }] }];
    const pipeline = aimesh.manager.api('pipeline') as PipelineApi;
    const run = await pipeline.run(
      {
        name: 'on-kubernetes',
        dataset: { name: 'tiny' },
        model: { name: 'm' },
        stages: [
          {
            name: 'train',
            type: 'command',
            resources: { cpu: 1, memoryMb: 512 },
            params: { command: ['python', 'train.py'] },
          },
        ],
      },
      'test',
    );
    await until(
      async () => (await pipeline.getExecution(run.id)).status === 'SUCCEEDED',
      30_000,
      'the execution to succeed',
      50,
    );
    const job = api.created();
    expect(job.metadata.name.startsWith(`training-job-${run.id}-`)).toBe(true);
    expect(job.metadata.namespace).toBe('ai-training');
    const done = await pipeline.getExecution(run.id);
    expect(done.stages[0].output).toEqual({ job: job.metadata.name, namespace: 'ai-training' });
  }, 60_000);
});
