import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalArtifactStore } from '../../src/adapters/local/local-artifact-store.js';
import type { ModuleDefinition } from '../../src/core/module.js';
import type { RunningAimesh } from '../../src/core/runtime.js';
import type { DiscoveryApi, ServiceInstance } from '../../src/discovery/api.js';
import { eventsModule } from '../../src/events/index.js';
import { INFERENCE_SERVICE, inferenceModule } from '../../src/inference/index.js';
import type { ModelVersionRecord, RegistryApi } from '../../src/registry/api.js';
import { startTestAimesh, testConfig } from '../support/aimesh.js';
import { call, tempModelsDir } from '../support/inference.js';
import { denseModel, onnxFiles, tfjsFiles, writeModelConfig } from '../support/models.js';
import { startSlowV2Server } from '../support/slow-v2-server.js';

/**
 * In-memory stand-ins for the discovery and registry APIs (src/discovery/api.ts,
 * src/registry/api.ts) that record the calls, so this suite pins down how the inference
 * module uses those contracts without running the modules behind them.
 */
function discoveryStandIn() {
  const log: { op: string; instance?: ServiceInstance; metadata?: Record<string, unknown> }[] = [];
  const api: DiscoveryApi = {
    async register(input) {
      const now = new Date().toISOString();
      const instance: ServiceInstance = {
        id: 'i1',
        service: input.service,
        url: input.url,
        metadata: input.metadata ?? {},
        registeredAt: now,
        lastHeartbeatAt: now,
        ttlMs: input.ttlMs ?? 15_000,
      };
      log.push({ op: 'register', instance });
      return {
        instance,
        update: async (metadata) => void log.push({ op: 'update', metadata }),
        deregister: async () => void log.push({ op: 'deregister' }),
      };
    },
    instances: () => [],
    watch: () => () => {},
  };
  const module: ModuleDefinition = {
    name: 'discovery',
    deps: [],
    init: async () => ({ api, ready: () => ({ status: 'ready' }), stop: async () => {} }),
  };
  return { log, module };
}

function registryStandIn(records: ModelVersionRecord[]) {
  const api: Pick<RegistryApi, 'getModelVersion'> = {
    async getModelVersion(model, ref) {
      const mine = records.filter((r) => r.model === model);
      const found =
        typeof ref === 'number' || /^\d+$/.test(String(ref))
          ? mine.find((r) => r.version === Number(ref))
          : ref === 'latest'
            ? mine.at(-1)
            : mine.find((r) => r.aliases.includes(String(ref)));
      if (!found) throw Object.assign(new Error(`no ${model}@${ref}`), { status: 404 });
      return found;
    },
  };
  const module: ModuleDefinition = {
    name: 'registry',
    deps: [],
    init: async () => ({ api, ready: () => ({ status: 'ready' }), stop: async () => {} }),
  };
  return module;
}

const record = (
  version: number,
  aliases: string[],
  extra: Partial<ModelVersionRecord>,
): ModelVersionRecord => ({
  model: 'churn',
  version,
  type: 'classification',
  format: 'tfjs',
  artifactUri: `artifact://models/churn/${version}/`,
  metrics: {},
  params: {},
  status: 'PUBLISHED',
  aliases,
  createdAt: new Date().toISOString(),
  ...extra,
});

describe('inference with discovery and the registry', () => {
  let aimesh: RunningAimesh;
  let url: string;
  const discovery = discoveryStandIn();
  let slow: Awaited<ReturnType<typeof startSlowV2Server>>;

  beforeAll(async () => {
    const config = testConfig();
    slow = await startSlowV2Server(500);
    const dir = tempModelsDir();
    writeModelConfig(dir, 'slow', { remote: { url: slow.url } });
    const artifacts = createLocalArtifactStore(config.artifacts.dir);
    const v2 = denseModel(3, [[2, 'softmax']], 2);
    const v3 = denseModel(3, [[2, 'softmax']], 3);
    for (const [name, data] of Object.entries(await tfjsFiles(v2)))
      await artifacts.put(`models/churn/2/${name}`, data);
    await artifacts.put('models/churn/2/model.onnx', (await onnxFiles(v2))['model.onnx']);
    for (const [name, data] of Object.entries(await tfjsFiles(v3)))
      await artifacts.put(`models/churn/3/${name}`, data);
    const records = [
      record(2, ['production'], {
        artifacts: [{ format: 'onnx', uri: 'artifact://models/churn/2/model.onnx' }],
      }),
      record(3, [], {}),
    ];
    aimesh = await startTestAimesh({
      table: [eventsModule, discovery.module, registryStandIn(records), inferenceModule],
      targets: ['inference'],
      config: {
        artifacts: config.artifacts,
        inference: {
          server: { port: 0 },
          modelsDir: dir,
          models: [
            { model: 'churn', ref: 'production' },
            { model: 'ghost', ref: 1 },
          ],
          loadRetryMs: 60_000,
        },
      },
    });
    url = ((await call(aimesh.url, 'GET', '/api/v1/inference/models')).body as { url: string }).url;
  });
  afterAll(async () => {
    await aimesh?.stop();
    await slow?.close();
  });

  it('registers its listener as model-inference with its models in the metadata', () => {
    const registered = discovery.log.find((e) => e.op === 'register')?.instance;
    expect(registered).toMatchObject({
      service: INFERENCE_SERVICE,
      url,
      metadata: {
        zone: 'local',
        models: [
          { id: 'churn', version: '2', type: 'classification', default: true },
          { id: 'slow', version: '1', default: true },
        ],
      },
    });
  });

  it('serves the registry version its alias names, from the ONNX artifact when there is one', async () => {
    const meta = await call(url, 'GET', '/v2/models/churn');
    expect(meta.body).toMatchObject({ versions: ['2'], platform: 'onnxruntime_onnx' });
    const res = await call(url, 'POST', '/api/v1/ai/inference', {
      modelType: 'classification',
      inputs: [1, 2, 3],
    });
    expect(res).toMatchObject({ status: 200, body: { modelId: 'churn', modelVersion: '2' } });
  });

  it('is not ready while a configured model cannot be loaded, and says which', async () => {
    expect(await call(url, 'GET', '/v2/health/ready')).toMatchObject({ status: 503, body: { ready: false } });
    const readyz = await call(aimesh.url, 'GET', '/readyz');
    expect(readyz.status).toBe(503);
    expect(JSON.stringify(readyz.body)).toMatch(/ghost/);
  });

  it('follows a promotion: loads the new version from the registry and tells discovery', async () => {
    await aimesh.bus.publish(
      'ai.model.promoted',
      new TextEncoder().encode(JSON.stringify({ data: { model: 'churn', version: 3, alias: 'production' } })),
    );
    let version = '';
    for (let i = 0; i < 100 && version !== '3'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      version = String(
        (
          await call(url, 'POST', '/v2/models/churn/infer', {
            inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }],
          })
        ).body.model_version,
      );
    }
    expect(version).toBe('3');
    expect((await call(url, 'GET', '/v2/models/churn/versions/3')).body).toMatchObject({
      platform: 'tensorflowjs_layers',
    });
    const update = discovery.log.filter((e) => e.op === 'update').at(-1);
    expect(update?.metadata).toMatchObject({
      models: expect.arrayContaining([{ id: 'churn', version: '3', type: 'classification', default: true }]),
    });
  });

  it('ignores promotions of models it does not serve', async () => {
    await aimesh.bus.publish(
      'ai.model.promoted',
      new TextEncoder().encode(JSON.stringify({ data: { model: 'other', version: 1, alias: 'production' } })),
    );
    await new Promise((r) => setTimeout(r, 100));
    expect((await call(url, 'GET', '/v2/models/other')).status).toBe(404);
  });

  it('on a graceful stop finishes in-flight requests, then deregisters', async () => {
    const inFlight = call(url, 'POST', '/v2/models/slow/infer', {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [4] }],
    });
    await new Promise((r) => setTimeout(r, 100));
    const stopping = aimesh.stop();
    await new Promise((r) => setTimeout(r, 50));
    expect(discovery.log.at(-1)?.op).not.toBe('deregister');
    expect(await inFlight).toMatchObject({ status: 200, body: { outputs: [{ data: [4] }] } });
    await stopping;
    expect(discovery.log.at(-1)?.op).toBe('deregister');
  });
});
