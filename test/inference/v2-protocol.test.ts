import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { call, startInference, tempModelsDir } from '../support/inference.js';
import {
  bytesEchoOnnx,
  denseModel,
  int64DoublerOnnx,
  mixedTypesOnnx,
  onnxFiles,
  predict,
  tfjsFiles,
  writeModelConfig,
  writeVersion,
} from '../support/models.js';

const model = denseModel(4, [
  [8, 'relu'],
  [3, 'softmax'],
]);
const rows = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
];
const infer = (inputs: unknown) => ({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 4], data: inputs }],
});

describe('Open Inference Protocol (V2) on the inference listener', () => {
  let aimesh: RunningAimesh;
  let url: string;
  let expected: Float32Array;

  beforeAll(async () => {
    const dir = tempModelsDir();
    writeVersion(dir, 'iris-tfjs', 1, await tfjsFiles(model));
    writeModelConfig(dir, 'iris-tfjs', { type: 'classification' });
    writeVersion(dir, 'iris-onnx', 1, await onnxFiles(model));
    writeVersion(dir, 'iris-both', 1, { ...(await tfjsFiles(model)), ...(await onnxFiles(model)) });
    writeVersion(dir, 'doubler', 1, { 'model.onnx': int64DoublerOnnx() });
    writeVersion(dir, 'echo', 1, { 'model.onnx': bytesEchoOnnx() });
    writeVersion(dir, 'mixed', 1, { 'model.onnx': mixedTypesOnnx() });
    expected = await predict(model, rows);
    ({ aimesh, url } = await startInference({ modelsDir: dir }));
  });
  afterAll(() => aimesh?.stop());

  it('GET /v2 describes the server and the health endpoints say live and ready', async () => {
    expect((await call(url, 'GET', '/v2')).body).toMatchObject({
      name: 'aimesh',
      version: expect.any(String),
    });
    expect(await call(url, 'GET', '/v2/health/live')).toMatchObject({ status: 200, body: { live: true } });
    expect(await call(url, 'GET', '/v2/health/ready')).toMatchObject({ status: 200, body: { ready: true } });
  });

  it('model metadata names the platform, versions and tensors', async () => {
    const tfjs = await call(url, 'GET', '/v2/models/iris-tfjs');
    expect(tfjs.status).toBe(200);
    expect(tfjs.body).toEqual({
      name: 'iris-tfjs',
      versions: ['1'],
      platform: 'tensorflowjs_layers',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 3] }],
    });
    expect((await call(url, 'GET', '/v2/models/iris-onnx/versions/1')).body).toMatchObject({
      name: 'iris-onnx',
      platform: 'onnxruntime_onnx',
    });
    expect((await call(url, 'GET', '/v2/models/iris-both')).body).toMatchObject({
      platform: 'onnxruntime_onnx',
    });
    expect(await call(url, 'GET', '/v2/models/iris-onnx/ready')).toMatchObject({
      status: 200,
      body: { ready: true },
    });
    expect(await call(url, 'GET', '/v2/models/iris-onnx/versions/1/ready')).toMatchObject({
      status: 200,
      body: { ready: true },
    });
  });

  it('serves the same model through TF.js and ONNX Runtime with the same FP32 predictions', async () => {
    for (const name of ['iris-tfjs', 'iris-onnx']) {
      const res = await call(url, 'POST', `/v2/models/${name}/infer`, { id: 'r1', ...infer(rows) });
      expect(res.status).toBe(200);
      expect(res.headers['x-model-id']).toBe(name);
      const body = res.body as {
        model_name: string;
        model_version: string;
        id: string;
        outputs: { name: string; datatype: string; shape: number[]; data: number[] }[];
      };
      expect(body).toMatchObject({ model_name: name, model_version: '1', id: 'r1' });
      expect(body.outputs[0]).toMatchObject({ name: 'output', datatype: 'FP32', shape: [2, 3] });
      for (const [i, v] of body.outputs[0].data.entries())
        expect(Math.abs(v - expected[i])).toBeLessThan(1e-5);
    }
  });

  it('accepts flat data and a version path', async () => {
    const res = await call(url, 'POST', '/v2/models/iris-onnx/versions/1/infer', infer(rows.flat()));
    expect(res.status).toBe(200);
  });

  it('runs INT64 and BYTES tensors', async () => {
    const ints = await call(url, 'POST', '/v2/models/doubler/infer', {
      inputs: [{ name: 'x', datatype: 'INT64', shape: [2, 2], data: [1, 2, 3, 9007199254740991] }],
    });
    expect(ints.status).toBe(200);
    expect((ints.body as { outputs: unknown[] }).outputs[0]).toMatchObject({
      name: 'y',
      datatype: 'INT64',
      shape: [2, 2],
      data: [2, 4, 6, expect.any(Number)],
    });
    const text = await call(url, 'POST', '/v2/models/echo/infer', {
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [2], data: ['héllo', 'world'] }],
    });
    expect(text.status).toBe(200);
    expect((text.body as { outputs: unknown[] }).outputs[0]).toEqual({
      name: 'echo',
      datatype: 'BYTES',
      shape: [2],
      data: ['héllo', 'world'],
    });
  });

  it('runs BOOL, FP64, INT32 and UINT8 tensors and checks their ranges', async () => {
    const inputs = [
      { name: 'b', datatype: 'BOOL', shape: [1, 2], data: [true, false] },
      { name: 'd', datatype: 'FP64', shape: [1, 2], data: [1e300, -0.5] },
      { name: 'i', datatype: 'INT32', shape: [1, 2], data: [-2147483648, 7] },
      { name: 'u', datatype: 'UINT8', shape: [1, 2], data: [0, 255] },
    ];
    const res = await call(url, 'POST', '/v2/models/mixed/infer', { inputs });
    expect(res.status).toBe(200);
    const byName = Object.fromEntries(
      (res.body as { outputs: { name: string; data: unknown[] }[] }).outputs.map((o) => [o.name, o.data]),
    );
    expect(byName).toEqual({
      b_out: [true, false],
      d_out: [1e300, -0.5],
      i_out: [-2147483648, 7],
      u_out: [0, 255],
    });
    const outOfRange = await call(url, 'POST', '/v2/models/mixed/infer', {
      inputs: inputs.map((t) => (t.name === 'u' ? { ...t, data: [0, 256] } : t)),
    });
    expect(outOfRange).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/not a valid UINT8/) },
    });
  });

  it('rejects a shape mismatch, a wrong datatype and unknown inputs with 400 and a V2 error', async () => {
    const shape = await call(url, 'POST', '/v2/models/iris-onnx/infer', {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }],
    });
    expect(shape.status).toBe(400);
    expect(shape.body.error).toMatch(/shape \[-1, 4\]/);
    const count = await call(url, 'POST', '/v2/models/iris-onnx/infer', {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 4], data: [1, 2, 3] }],
    });
    expect(count).toMatchObject({
      status: 400,
      body: { error: expect.stringMatching(/holds 8 elements but data has 3/) },
    });
    const type = await call(url, 'POST', '/v2/models/iris-onnx/infer', {
      inputs: [{ name: 'input', datatype: 'INT64', shape: [2, 4], data: [1, 2, 3, 4, 5, 6, 7, 8] }],
    });
    expect(type).toMatchObject({ status: 400, body: { error: expect.stringMatching(/must be FP32/) } });
    const name = await call(url, 'POST', '/v2/models/iris-onnx/infer', {
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }],
    });
    expect(name).toMatchObject({ status: 400, body: { error: expect.stringMatching(/no input "x"/) } });
  });

  it('answers 404 with a message for an unknown model, version or alias', async () => {
    expect(await call(url, 'GET', '/v2/models/nope')).toMatchObject({
      status: 404,
      body: { error: expect.stringMatching(/"nope" is not loaded/) },
    });
    expect(await call(url, 'GET', '/v2/models/iris-onnx/versions/7')).toMatchObject({
      status: 404,
      body: { error: expect.stringMatching(/no loaded version 7/) },
    });
    expect(await call(url, 'POST', '/v2/models/nope/infer', infer(rows))).toMatchObject({ status: 404 });
    expect(await call(url, 'POST', '/v2/models/iris-onnx/versions/9/infer', infer(rows))).toMatchObject({
      status: 404,
    });
    expect(await call(url, 'POST', '/v2/models/iris-onnx/versions/staging/infer', infer(rows))).toMatchObject(
      { status: 404, body: { error: expect.stringMatching(/no alias "staging"/) } },
    );
    expect(await call(url, 'GET', '/v2/nothing-here')).toMatchObject({
      status: 404,
      body: { error: expect.any(String) },
    });
  });

  it('the seed endpoint takes a model id or type and plain rows', async () => {
    const byId = await call(url, 'POST', '/api/v1/ai/inference', { modelId: 'iris-onnx', inputs: rows });
    expect(byId.status).toBe(200);
    const body = byId.body as {
      modelId: string;
      modelVersion: string;
      predictions: number[][];
      latencyMs: number;
    };
    expect(body).toMatchObject({ modelId: 'iris-onnx', modelVersion: '1', latencyMs: expect.any(Number) });
    expect(body.predictions).toHaveLength(2);
    expect(Math.abs(body.predictions[1][2] - expected[5])).toBeLessThan(1e-5);
    const byType = await call(url, 'POST', '/api/v1/ai/inference', {
      modelType: 'classification',
      inputs: rows[0],
    });
    expect(byType).toMatchObject({
      status: 200,
      body: { modelId: 'iris-tfjs', predictions: [expect.any(Array)] },
    });
    expect(
      await call(url, 'POST', '/api/v1/ai/inference', { modelType: 'sentiment', inputs: rows }),
    ).toMatchObject({ status: 404, body: { error: { code: 'model_not_found' } } });
    expect(await call(url, 'POST', '/api/v1/ai/inference', { inputs: rows })).toMatchObject({
      status: 400,
      body: { error: { code: 'missing_model' } },
    });
  });

  it('the repository API lists, unloads and reloads models', async () => {
    const index = await call(url, 'POST', '/v2/repository/index');
    expect(index.body).toContainEqual({ name: 'echo', version: '1', state: 'READY' });
    expect(await call(url, 'POST', '/v2/repository/models/echo/unload', {})).toMatchObject({
      status: 200,
      body: { unloaded: ['1'] },
    });
    expect((await call(url, 'GET', '/v2/models/echo')).status).toBe(404);
    expect(await call(url, 'POST', '/v2/repository/models/echo/load', {})).toMatchObject({
      status: 200,
      body: { loaded: ['1'] },
    });
    expect((await call(url, 'GET', '/v2/models/echo/ready')).status).toBe(200);
    expect((await call(url, 'POST', '/v2/repository/models/ghost/load', {})).status).toBe(404);
  });

  it('never answers 5xx or hangs on arbitrary input tensors', async () => {
    const tensor = fc.record({
      name: fc.oneof(fc.constant('input'), fc.string({ maxLength: 8 })),
      datatype: fc.oneof(
        fc.constantFrom('FP32', 'INT64', 'BYTES', 'BOOL', 'UINT8', 'FP64'),
        fc.string({ maxLength: 5 }),
      ),
      shape: fc.array(fc.oneof(fc.integer({ min: -2, max: 5 }), fc.constant(4)), { maxLength: 4 }),
      data: fc.array(
        fc.oneof(
          fc.double(),
          fc.integer(),
          fc.string({ maxLength: 3 }),
          fc.boolean(),
          fc.constant(null),
          fc.array(fc.double(), { maxLength: 4 }),
        ),
        { maxLength: 24 },
      ),
    });
    const body = fc.oneof(
      fc.record({ inputs: fc.array(tensor, { maxLength: 3 }) }),
      fc.anything(),
      fc.string().map((s) => ({ raw: s })),
    );
    await fc.assert(
      fc.asyncProperty(
        body,
        fc.constantFrom('iris-onnx', 'iris-tfjs', 'doubler', 'echo'),
        async (b, name) => {
          const raw = typeof b === 'object' && b !== null ? (b as { raw?: string }).raw : undefined;
          const res = await call(url, 'POST', `/v2/models/${name}/infer`, raw ?? JSON.stringify(b ?? null));
          expect(res.status).toBeLessThan(500);
          if (res.status !== 200) expect(typeof res.body.error).toBe('string');
          const seed = await call(
            url,
            'POST',
            '/api/v1/ai/inference',
            raw ?? JSON.stringify({ modelId: name, inputs: b }),
          );
          expect(seed.status).toBeLessThan(500);
        },
      ),
      { numRuns: 150 },
    );
  });
});
