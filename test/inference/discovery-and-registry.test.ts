import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPgliteDatabase } from '../../src/adapters/pglite/pglite-database.js';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { INFERENCE_SERVICE } from '../../src/inference/index.js';
import type { Sql } from '../../src/ports/database.js';
import { startTestAimesh } from '../support/aimesh.js';
import { call, tempModelsDir } from '../support/inference.js';
import { denseModel, onnxFiles, tfjsFiles, writeModelConfig } from '../support/models.js';
import { startSlowV2Server } from '../support/slow-v2-server.js';
import { sleep } from '../support/wait.js';

/** The subject on which the discovery module fans out registrations, updates and removals. */
const DISCOVERY_SUBJECT = 'aimesh.discovery.changed';

interface Row {
  id: string;
  service: string;
  url: string;
  metadata: { zone?: string; models?: { id: string; version: string; default?: boolean }[] };
}

/** The inference instances as the discovery module stored them: the table every process reads. */
async function registered(db: Sql): Promise<Row[]> {
  const result = await db.query<Row>(
    'SELECT id, service, url, metadata FROM aimesh_discovery_instances WHERE service = $1',
    [INFERENCE_SERVICE],
  );
  return result.rows;
}

/** Polls `probe` every 50 ms until it returns a value; fails naming `what` after `timeoutMs`. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

const decode = <T = Record<string, unknown>>(bytes: Uint8Array) =>
  JSON.parse(new TextDecoder().decode(bytes)) as T;

/**
 * The model server with the real discovery, registry and events modules in one process: models
 * and aliases are made through the registry's HTTP API, a promotion travels as a stored event
 * through the outbox relay and the bus, and the registration is read back from discovery's table.
 */
describe('inference with discovery and the registry', () => {
  let aimesh: RunningAimesh;
  let url: string;
  let slow: Awaited<ReturnType<typeof startSlowV2Server>>;
  const dataDir = mkdtempSync(join(tmpdir(), 'aimesh-pglite-'));
  type Change = { op: string; id?: string; service?: string };
  const discoveryChanges: Change[] = [];
  const promotions: Record<string, unknown>[] = [];

  const registryCall = async (method: 'POST' | 'PUT', path: string, body: unknown, status: number) => {
    const reply = await call(aimesh.url, method, path, body);
    expect(reply, `${method} ${path}`).toMatchObject({ status });
    return reply.body;
  };

  const servedVersion = async () =>
    String(
      (
        await call(url, 'POST', '/v2/models/churn/infer', {
          inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: [1, 2, 3] }],
        })
      ).body.model_version,
    );

  beforeAll(async () => {
    slow = await startSlowV2Server(500);
    const dir = tempModelsDir();
    writeModelConfig(dir, 'slow', { remote: { url: slow.url } });
    aimesh = await startTestAimesh({
      targets: ['events', 'inference'],
      config: {
        // On disk, so the table can be read again after the process has stopped.
        database: { adapter: 'pglite', dataDir },
        inference: {
          // Serves only the models listed here, so promotions of other models are ignored.
          followAliases: [],
          server: { port: 0 },
          modelsDir: dir,
          models: [
            { model: 'churn', ref: 'production' },
            { model: 'ghost', ref: 1 },
          ],
          loadRetryMs: 200,
        },
      },
    });
    expect(aimesh.manager.names()).toEqual(
      expect.arrayContaining(['events', 'discovery', 'registry', 'inference']),
    );
    await aimesh.bus.subscribe(DISCOVERY_SUBJECT, (m) => void discoveryChanges.push(decode<Change>(m.data)));
    await aimesh.bus.subscribe('ai.model.promoted', (m) => {
      promotions.push(decode(m.data).data as Record<string, unknown>);
    });
    url = ((await call(aimesh.url, 'GET', '/api/v1/inference/models')).body as { url: string }).url;

    // Version 1 is TF.js with an ONNX export next to it; version 2 is TF.js only.
    const v1 = denseModel(3, [[2, 'softmax']], 1);
    const v2 = denseModel(3, [[2, 'softmax']], 2);
    for (const [name, data] of Object.entries(await tfjsFiles(v1)))
      await aimesh.artifacts.put(`models/churn/1/${name}`, data);
    await aimesh.artifacts.put('models/churn/1/model.onnx', (await onnxFiles(v1))['model.onnx']);
    for (const [name, data] of Object.entries(await tfjsFiles(v2)))
      await aimesh.artifacts.put(`models/churn/2/${name}`, data);
    await registryCall('POST', '/api/v1/models', { name: 'churn', type: 'classification' }, 201);
    await registryCall(
      'POST',
      '/api/v1/models/churn/versions',
      {
        format: 'tfjs',
        artifactUri: 'artifact://models/churn/1/',
        artifacts: [{ format: 'onnx', uri: 'artifact://models/churn/1/model.onnx' }],
        metrics: { accuracy: 0.96 },
      },
      201,
    );
    await registryCall(
      'POST',
      '/api/v1/models/churn/versions',
      { format: 'tfjs', artifactUri: 'artifact://models/churn/2/', metrics: { accuracy: 0.97 } },
      201,
    );
    await registryCall('PUT', '/api/v1/models/churn/aliases/production', { version: 1 }, 200);
    await eventually('churn to be served', async () =>
      (await call(url, 'GET', '/v2/models/churn')).status === 200 ? true : undefined,
    );
  }, 60_000);

  afterAll(async () => {
    await aimesh?.stop();
    await slow?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('registers its listener as model-inference with its models in the metadata', async () => {
    const [row] = await eventually('the registration to name churn', async () => {
      const rows = await registered(aimesh.db);
      return rows[0]?.metadata.models?.some((m) => m.id === 'churn') ? rows : undefined;
    });
    expect(await registered(aimesh.db)).toHaveLength(1);
    expect(row).toMatchObject({ service: INFERENCE_SERVICE, url, metadata: { zone: 'local' } });
    expect(row.metadata.models).toHaveLength(2);
    expect(row.metadata.models).toEqual(
      expect.arrayContaining([
        { id: 'churn', version: '1', type: 'classification', default: true },
        expect.objectContaining({ id: 'slow', version: '1', default: true }),
      ]),
    );
  });

  it('serves the registry version its alias names, from the ONNX artifact when there is one', async () => {
    const meta = await call(url, 'GET', '/v2/models/churn');
    expect(meta.body).toMatchObject({ versions: ['1'], platform: 'onnxruntime_onnx' });
    const res = await call(url, 'POST', '/api/v1/ai/inference', {
      modelType: 'classification',
      inputs: [1, 2, 3],
    });
    expect(res).toMatchObject({ status: 200, body: { modelId: 'churn', modelVersion: '1' } });
  });

  it('is not ready while a configured model cannot be loaded, and says which', async () => {
    expect(await call(url, 'GET', '/v2/health/ready')).toMatchObject({
      status: 503,
      body: { ready: false },
    });
    const readyz = await call(aimesh.url, 'GET', '/readyz');
    expect(readyz.status).toBe(503);
    expect(JSON.stringify(readyz.body)).toMatch(/ghost/);
    expect(JSON.stringify(readyz.body)).not.toMatch(/churn/);
  });

  it('follows a promotion made in the registry: loads the new version and tells discovery', async () => {
    await registryCall('PUT', '/api/v1/models/churn/aliases/production', { version: 2 }, 200);
    expect(
      await eventually('version 2 to serve', async () => ((await servedVersion()) === '2' ? '2' : undefined)),
    ).toBe('2');
    expect(promotions).toContainEqual(expect.objectContaining({ model: 'churn', version: 2 }));
    expect((await call(url, 'GET', '/v2/models/churn/versions/2')).body).toMatchObject({
      platform: 'tensorflowjs_layers',
    });
    // Discovery's copy catches up after the switch (a loaded v2 may show there before it is the
    // default): wait for the state the server already serves.
    const [row] = await eventually('discovery to list churn version 2 as the default', async () => {
      const rows = await registered(aimesh.db);
      return rows[0]?.metadata.models?.some((m) => m.id === 'churn' && m.version === '2' && m.default)
        ? rows
        : undefined;
    });
    expect(row.metadata.models).toContainEqual({
      id: 'churn',
      version: '2',
      type: 'classification',
      default: true,
    });
  });

  it('serves what the registry says, not what a promotion event claims', async () => {
    // The registry holds production = 2 (the test before); an event claiming 1 is read back
    // against it, so even an admin's forged event does not move what is served.
    const id = `forged-${Date.now()}`;
    const seen = promotions.length;
    const forged = await call(aimesh.url, 'POST', '/api/v1/events', {
      id,
      type: 'ai.model.promoted',
      source: '/forged',
      data: { model: 'churn', version: 1, alias: 'production' },
    });
    expect(forged.status).toBe(201);
    await eventually('the forged event to reach the bus', async () =>
      promotions.slice(seen).some((p) => p.version === 1 && p.alias === 'production') ? true : undefined,
    );
    await sleep(1_000);
    expect(await servedVersion()).toBe('2');
  });

  it('ignores promotions of models it does not serve when it follows no aliases', async () => {
    await registryCall('POST', '/api/v1/models', { name: 'other', type: 'classification' }, 201);
    // A loadable artifact, so only the model server's choice keeps it from loading.
    await registryCall(
      'POST',
      '/api/v1/models/other/versions',
      { format: 'tfjs', artifactUri: 'artifact://models/churn/2/', metrics: { accuracy: 0.99 } },
      201,
    );
    await registryCall('PUT', '/api/v1/models/other/aliases/production', { version: 1 }, 200);
    await eventually('the promotion of other on the bus', async () =>
      promotions.some((p) => p.model === 'other') ? true : undefined,
    );
    await sleep(300);
    expect((await call(url, 'GET', '/v2/models/other')).status).toBe(404);
    expect(await servedVersion()).toBe('2');
  });

  it('on a graceful stop finishes in-flight requests, then deregisters', async () => {
    const [{ id }] = await registered(aimesh.db);
    const inFlight = call(url, 'POST', '/v2/models/slow/infer', {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [4] }],
    });
    await sleep(100);
    const stopping = aimesh.stop();
    await sleep(50);
    expect(await registered(aimesh.db)).toHaveLength(1);
    expect(discoveryChanges).not.toContainEqual(expect.objectContaining({ op: 'remove', id }));
    expect(await inFlight).toMatchObject({ status: 200, body: { outputs: [{ data: [4] }] } });
    await stopping;
    expect(discoveryChanges).toContainEqual({ op: 'remove', id, service: INFERENCE_SERVICE });
    const reopened = await openPgliteDatabase(dataDir);
    try {
      expect(await registered(reopened)).toEqual([]);
    } finally {
      await reopened.close();
    }
  });
});
