import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { call, startInference, tempModelsDir } from '../support/inference.js';
import {
  denseModel,
  metricValue,
  onnxFiles,
  predict,
  writeModelConfig,
  writeVersion,
} from '../support/models.js';
import { startSlowV2Server } from '../support/slow-v2-server.js';

const model = denseModel(4, [
  [16, 'relu'],
  [3, 'softmax'],
]);
const row = (i: number) => ({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [i, 1, 2, 3] }],
});
const metrics = async (url: string) => (await call(url, 'GET', '/metrics')).body as unknown as string;

// One server for both suites: starting aimesh is the slow part of these tests.
let aimesh: RunningAimesh;
let url: string;
let slow: Awaited<ReturnType<typeof startSlowV2Server>>;
let dir: string;
let staging: string;

beforeAll(async () => {
  slow = await startSlowV2Server(400);
  dir = tempModelsDir();
  staging = tempModelsDir();
  writeVersion(dir, 'iris', 1, await onnxFiles(model));
  writeModelConfig(dir, 'iris', {
    aliases: { production: 1 },
    batching: { maxBatchSize: 4, maxQueueDelayMicros: 2_000 },
  });
  writeVersion(staging, 'iris', 2, await onnxFiles(denseModel(4, [[3, 'softmax']], 99)));
  writeVersion(dir, 'batched', 1, await onnxFiles(model));
  writeModelConfig(dir, 'batched', { batching: { maxBatchSize: 8, maxQueueDelayMicros: 300_000 } });
  writeVersion(dir, 'preferred', 1, await onnxFiles(model));
  writeModelConfig(dir, 'preferred', {
    batching: { maxBatchSize: 16, preferredBatchSizes: [4], maxQueueDelayMicros: 5_000_000 },
  });
  writeModelConfig(dir, 'slow', {
    remote: { url: slow.url },
    batching: { maxBatchSize: 1, maxQueueSize: 2 },
  });
  writeModelConfig(dir, 'slow-timeout', {
    remote: { url: slow.url, model: 'slow' },
    batching: { maxBatchSize: 1, timeoutMs: 100 },
  });
  ({ aimesh, url } = await startInference({ modelsDir: dir, cache: { maxEntries: 100 } }));
});
afterAll(async () => {
  await aimesh?.stop();
  await slow?.close();
  rmSync(staging, { recursive: true, force: true });
});

describe('dynamic batching', () => {
  it('merges 20 concurrent requests into ⌈20 / 8⌉ = 3 runtime calls and splits the results back', async () => {
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => call(url, 'POST', '/v2/models/batched/infer', row(i))),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200));
    // Each caller gets its own rows back: compare with the model's own prediction.
    const expected = await predict(model, [[7, 1, 2, 3]]);
    const got = (responses[7].body as { outputs: { data: number[]; shape: number[] }[] }).outputs[0];
    expect(got.shape).toEqual([1, 3]);
    for (const [i, v] of got.data.entries()) expect(Math.abs(v - expected[i])).toBeLessThan(1e-5);
    const text = await metrics(url);
    expect(
      metricValue(text, 'aimesh_inference_runtime_calls_total', { model: 'batched', version: '1' }),
    ).toBe(3);
    expect(metricValue(text, 'aimesh_inference_batch_size_sum', { model: 'batched', version: '1' })).toBe(20);
    expect(metricValue(text, 'aimesh_inference_batch_size_count', { model: 'batched', version: '1' })).toBe(
      3,
    );
  });

  it('sends a preferred batch size at once instead of waiting for the queue delay', async () => {
    const started = Date.now();
    const responses = await Promise.all(
      Array.from({ length: 4 }, (_, i) => call(url, 'POST', '/v2/models/preferred/infer', row(i))),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(
      metricValue(await metrics(url), 'aimesh_inference_runtime_calls_total', {
        model: 'preferred',
        version: '1',
      }),
    ).toBe(1);
  });

  it('answers 503 with Retry-After when the queue is full, and serves what it queued', async () => {
    const body = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }] };
    const first = call(url, 'POST', '/v2/models/slow/infer', body);
    await new Promise((r) => setTimeout(r, 50));
    const rest = await Promise.all(
      Array.from({ length: 5 }, () => call(url, 'POST', '/v2/models/slow/infer', body)),
    );
    const all = [await first, ...rest];
    const rejected = all.filter((r) => r.status === 503);
    expect(all.filter((r) => r.status === 200)).toHaveLength(3);
    expect(rejected).toHaveLength(3);
    expect(rejected[0].headers['retry-after']).toBe('1');
    expect(rejected[0].body.error).toMatch(/queue holds 2 requests/);
  });

  it('fails a request that waits longer than its timeout with 504', async () => {
    const body = { inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 1], data: [1] }] };
    const [a, b] = await Promise.all([
      call(url, 'POST', '/v2/models/slow-timeout/infer', body),
      call(url, 'POST', '/v2/models/slow-timeout/infer', body),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 504]);
  });

  it('records completed inferences as ai.serving.completed events with batch size and queue wait', async () => {
    await aimesh.events.flush();
    const events = await aimesh.events.query({ type: 'ai.serving.completed', limit: 1_000 });
    const batched = events.filter((e) => (e.data as { modelId: string }).modelId === 'batched');
    expect(batched.length).toBe(20);
    expect(batched[0].data).toMatchObject({
      modelVersion: '1',
      latencyMs: expect.any(Number),
      batchSize: expect.any(Number),
      queueWaitMs: expect.any(Number),
    });
    const failed = await aimesh.events.query({ type: 'ai.serving.failed', limit: 100 });
    expect(failed.some((e) => (e.data as { status: number }).status === 503)).toBe(true);
  });
});

describe('model lifecycle', () => {
  it('a promoted version takes over with zero failed requests during the switch', async () => {
    const seen: { status: number; version: string; loop: number }[] = [];
    let stop = false;
    const loops = Array.from({ length: 6 }, async (_, loop) => {
      for (let i = 0; !stop && i < 5_000; i++) {
        const res = await call(url, 'POST', '/v2/models/iris/infer', row(i % 5));
        seen.push({ status: res.status, version: String(res.body.model_version), loop });
      }
    });
    await new Promise((r) => setTimeout(r, 150));
    cpSync(join(staging, 'iris', '2'), join(dir, 'iris', '2'), { recursive: true });
    await aimesh.bus.publish(
      'ai.model.promoted',
      new TextEncoder().encode(
        JSON.stringify({
          id: 'promotion-1',
          type: 'ai.model.promoted',
          data: { model: 'iris', version: 2, alias: 'production' },
        }),
      ),
    );
    for (let i = 0; i < 200 && !seen.some((s) => s.version === '2'); i++)
      await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    stop = true;
    await Promise.all(loops);
    expect(seen.filter((s) => s.status !== 200)).toEqual([]);
    expect(seen.some((s) => s.version === '1')).toBe(true);
    for (let loop = 0; loop < 6; loop++)
      expect(seen.filter((s) => s.loop === loop).at(-1)?.version).toBe('2');
    const models = (await call(url, 'GET', '/v2/repository/models')).body as {
      models: { name: string; aliases: Record<string, number>; defaultVersion: number }[];
    };
    expect(models.models.find((m) => m.name === 'iris')).toMatchObject({
      name: 'iris',
      aliases: { production: 2 },
      defaultVersion: 2,
    });
  });

  it('serves a pinned version next to the default and splits unversioned traffic by canary weights', async () => {
    expect((await call(url, 'POST', '/v2/models/iris/versions/1/infer', row(1))).body.model_version).toBe(
      '1',
    );
    expect((await call(url, 'PUT', '/v2/repository/models/iris/canary', { weights: { 1: 50 } })).status).toBe(
      200,
    );
    const versions = [];
    for (let i = 0; i < 60; i++)
      versions.push((await call(url, 'POST', '/v2/models/iris/infer', row(100 + i))).body.model_version);
    expect(versions).toContain('1');
    expect(versions).toContain('2');
    expect(
      (await call(url, 'PUT', '/v2/repository/models/iris/canary', { weights: { 1: 80, 2: 30 } })).status,
    ).toBe(400);
    expect((await call(url, 'PUT', '/v2/repository/models/iris/canary', { weights: {} })).status).toBe(200);
  });

  it('answers repeated inputs from the result cache until the version changes', async () => {
    await call(url, 'POST', '/api/v1/ai/inference', { modelId: 'iris', inputs: [9, 9, 9, 9] });
    const again = await call(url, 'POST', '/api/v1/ai/inference', { modelId: 'iris', inputs: [9, 9, 9, 9] });
    expect(again.body).toMatchObject({ cached: true, modelVersion: '2' });
    expect(
      (await call(url, 'PUT', '/v2/repository/models/iris/aliases/production', { version: 1 })).status,
    ).toBe(200);
    const after = await call(url, 'POST', '/api/v1/ai/inference', { modelId: 'iris', inputs: [9, 9, 9, 9] });
    expect(after.body).toMatchObject({ cached: false, modelVersion: '1' });
    expect(
      metricValue(await metrics(url), 'aimesh_inference_cache_lookups_total', { result: 'hit' }),
    ).toBeGreaterThanOrEqual(1);
  });
});
