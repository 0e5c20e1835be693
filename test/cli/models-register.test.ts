import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { adminHeaders, startTestAimesh, TEST_ADMIN_TOKEN, userHeaders } from '../support/aimesh.js';
import { call } from '../support/inference.js';
import { denseModel, onnxFiles, tfjsFiles } from '../support/models.js';
import { until } from '../support/until.js';

// Starting PGlite and migrating every module takes tens of seconds on a loaded machine.
const START_TIMEOUT_MS = 120_000;
// Each command is a fresh Node process compiling TypeScript: seconds apiece, and up to a minute
// on a machine loaded by other work; a test runs a few.
const CLI_TIMEOUT_MS = 90_000;
const CLI_TEST_TIMEOUT = 300_000;

const bin = new URL('../../bin/aimesh.js', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'aimesh-register-'));

/** Writes `files` into a new folder under the test's temporary directory; returns its path. */
function folder(name: string, files: Record<string, Uint8Array | string>): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, data] of Object.entries(files)) writeFileSync(join(dir, file), data);
  return dir;
}

const ROW = [0.5, -1.25, 2];

/** What `model` predicts for ROW, computed here: the served version must answer the same. */
function expected(model: tf.LayersModel): number[] {
  return Array.from((model.predict(tf.tensor2d([ROW])) as tf.Tensor).dataSync());
}

describe('aimesh models register', () => {
  let aimesh: RunningAimesh;
  let inferenceUrl: string;
  const tfjsModel = denseModel(
    3,
    [
      [4, 'relu'],
      [2, 'softmax'],
    ],
    7,
  );
  const onnxModel = denseModel(3, [[3, 'softmax']], 8);
  let tfjsDir: string;
  let onnxFile: string;

  const cli = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [bin, ...args],
        {
          env: { ...process.env, AIMESH_URL: aimesh.url, AIMESH_ADMIN_TOKEN: TEST_ADMIN_TOKEN },
          timeout: CLI_TIMEOUT_MS,
        },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
      );
    });

  const infer = (model: string) =>
    call(inferenceUrl, 'POST', `/v2/models/${model}/infer`, {
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 3], data: ROW }],
    });

  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['gateway', 'events', 'registry', 'inference'],
      // The model server follows promotions to `production` of any registry model (the default).
      config: { inference: { server: { port: 0 }, loadRetryMs: 200 } },
    });
    inferenceUrl = ((await call(aimesh.url, 'GET', '/api/v1/inference/models')).body as { url: string }).url;
    tfjsDir = folder('my-tfjs-model', await tfjsFiles(tfjsModel));
    const onnxDir = folder('exported', { 'churn.onnx': (await onnxFiles(onnxModel))['model.onnx'] });
    onnxFile = join(onnxDir, 'churn.onnx');
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await aimesh?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it(
    'uploads a TF.js folder, registers a version on it, and the model server serves it once promoted',
    async () => {
      const registered = await cli(
        'models',
        'register',
        tfjsDir,
        '--name',
        'my-classifier',
        '--type',
        'classification',
        '--metric',
        'accuracy=0.97',
        '--description',
        'trained elsewhere',
      );
      expect(registered.stderr).toBe('');
      expect(registered.code).toBe(0);
      expect(registered.stdout).toMatch(
        /^registered my-classifier v1 \(tfjs, 2 files, [\d.]+ KiB\) at artifact:\/\/models\/my-classifier\/uploads\/[0-9a-f-]+\/\n/,
      );

      const version = (await call(aimesh.url, 'GET', '/api/v1/models/my-classifier/versions/1')).body;
      expect(version).toMatchObject({ format: 'tfjs', metrics: { accuracy: 0.97 }, type: 'classification' });
      const uri = String(version.artifactUri);
      expect(uri).toMatch(/^artifact:\/\/models\/my-classifier\/uploads\/[0-9a-f-]+\/$/);
      // The stored files are the user's bytes, as the registry's version names them.
      const files = await tfjsFiles(tfjsModel);
      for (const [name, data] of Object.entries(files))
        expect(Buffer.from(await aimesh.artifacts.get(`${uri}${name}`)).equals(Buffer.from(data))).toBe(true);
      expect((await call(aimesh.url, 'GET', '/api/v1/models/my-classifier')).body).toMatchObject({
        type: 'classification',
        description: 'trained elsewhere',
      });

      const promoted = await cli('models', 'promote', 'my-classifier', '1');
      expect(promoted).toMatchObject({ code: 0, stdout: 'my-classifier@1 is now production (was unset)\n' });
      await until(
        async () => (await call(inferenceUrl, 'GET', '/v2/models/my-classifier')).status === 200,
        60_000,
        'my-classifier to be served',
        50,
      );
      expect((await call(inferenceUrl, 'GET', '/v2/models/my-classifier')).body).toMatchObject({
        platform: 'tensorflowjs_layers',
      });
      const answer = await infer('my-classifier');
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ model_name: 'my-classifier', model_version: '1' });
      const outputs = (answer.body.outputs as { data: number[] }[])[0].data;
      expect(outputs).toHaveLength(2);
      for (const [i, value] of expected(tfjsModel).entries()) expect(outputs[i]).toBeCloseTo(value, 5);
    },
    CLI_TEST_TIMEOUT,
  );

  it(
    'uploads an .onnx file as model.onnx, served by ONNX Runtime once promoted',
    async () => {
      const registered = await cli(
        'models',
        'register',
        onnxFile,
        '--name',
        'churn-onnx',
        '--type',
        'churn',
        '--metric',
        'accuracy=0.99',
      );
      expect(registered.stderr).toBe('');
      expect(registered.stdout).toMatch(/^registered churn-onnx v1 \(onnx, 1 file, /);
      const version = (await call(aimesh.url, 'GET', '/api/v1/models/churn-onnx/versions/latest')).body;
      expect(version).toMatchObject({ version: 1, format: 'onnx' });
      expect(await aimesh.artifacts.exists(`${version.artifactUri}model.onnx`)).toBe(true);

      expect((await cli('models', 'promote', 'churn-onnx', '1')).code).toBe(0);
      await until(
        async () => (await call(inferenceUrl, 'GET', '/v2/models/churn-onnx')).status === 200,
        60_000,
        'churn-onnx to be served',
        50,
      );
      expect((await call(inferenceUrl, 'GET', '/v2/models/churn-onnx')).body).toMatchObject({
        platform: 'onnxruntime_onnx',
      });
      const outputs = ((await infer('churn-onnx')).body.outputs as { data: number[] }[])[0].data;
      expect(outputs).toHaveLength(3);
      for (const [i, value] of expected(onnxModel).entries()) expect(outputs[i]).toBeCloseTo(value, 5);
    },
    CLI_TEST_TIMEOUT,
  );

  it(
    'adds a second version to an existing model, and refuses one of another type',
    async () => {
      const again = await cli('models', 'register', onnxFile, '--name', 'churn-onnx', '--type', 'churn');
      expect(again.stdout).toMatch(/^registered churn-onnx v2 \(onnx/);
      const other = await cli('models', 'register', onnxFile, '--name', 'churn-onnx', '--type', 'sentiment');
      expect(other.code).toBe(1);
      expect(other.stderr).toBe(
        'aimesh: model churn-onnx is registered with type churn, not sentiment; give --type churn or another --name (type_mismatch)\n',
      );
      const versions = (await call(aimesh.url, 'GET', '/api/v1/models/churn-onnx/versions')).body;
      expect((versions.items as unknown[]).length).toBe(2);
    },
    CLI_TEST_TIMEOUT,
  );

  it(
    'says what is wrong with a missing path, an unknown format or a missing --name, exit 1, and registers nothing',
    async () => {
      const missing = await cli('models', 'register', join(work, 'nowhere'), '--name', 'x1', '--type', 't');
      expect(missing.code).toBe(1);
      expect(missing.stderr).toBe(
        `aimesh: ${join(work, 'nowhere')} does not exist; give a TF.js model folder (model.json and its weights) or an .onnx file (path_not_found)\n`,
      );

      const csv = join(folder('table', { 'data.csv': 'a,b\n1,2\n' }), 'data.csv');
      const unknownFile = await cli('models', 'register', csv, '--name', 'x1', '--type', 't');
      expect(unknownFile.code).toBe(1);
      expect(unknownFile.stderr).toContain('is not a model format aimesh serves; give a TF.js model folder');
      expect(unknownFile.stderr).toContain('(unknown_model_format)');
      // The other refusals of readLocalModel are specified in local-model-files.test.ts.

      const unnamed = await cli('models', 'register', tfjsDir, '--type', 't');
      expect(unnamed.code).toBe(1);
      expect(unnamed.stderr).toContain("required option '--name <name>' not specified");

      expect((await call(aimesh.url, 'GET', '/api/v1/models/x1')).status).toBe(404);
      expect(await aimesh.artifacts.list('models/x1/')).toEqual([]);
    },
    CLI_TEST_TIMEOUT,
  );
});

describe('PUT /api/v1/models/{name}/uploads/{upload}/{path}', () => {
  let aimesh: RunningAimesh;
  const put = (path: string, body: string | number[], headers: Record<string, string> = adminHeaders()) =>
    fetch(`${aimesh.url}/api/v1/models/${path}`, {
      method: 'PUT',
      headers: { ...headers, 'content-type': 'application/octet-stream' },
      body: typeof body === 'string' ? body : Buffer.from(body),
    });

  beforeAll(async () => {
    aimesh = await startTestAimesh({ targets: ['gateway', 'registry'] });
    await call(aimesh.url, 'POST', '/api/v1/models', { name: 'files', type: 'classification' });
  }, START_TIMEOUT_MS);
  afterAll(() => aimesh?.stop());

  it('stores the bytes under the upload folder and never replaces them', async () => {
    const first = await put('files/uploads/u1/weights/group1.bin', [1, 2, 3]);
    expect(first.status).toBe(201);
    expect(await first.json()).toEqual({
      uri: 'artifact://models/files/uploads/u1/weights/group1.bin',
      folder: 'artifact://models/files/uploads/u1/',
      sizeBytes: 3,
      sha256: '039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81',
    });
    const again = await put('files/uploads/u1/weights/group1.bin', [9]);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('artifact_exists');
    expect(Array.from(await aimesh.artifacts.get('models/files/uploads/u1/weights/group1.bin'))).toEqual([
      1, 2, 3,
    ]);
  });

  it('answers 400 for a path or upload id that is not plain names, 404 for an unregistered model', async () => {
    const refused = {
      'files/uploads/u1/.hidden': 'invalid_file_path',
      // An encoded "/" never reaches the route: the HTTP layer refuses it.
      'files/uploads/u1/a%2F..%2F..%2Fb': 'invalid_path',
      'files/uploads/-x/model.json': 'invalid_upload_id',
    };
    for (const [path, code] of Object.entries(refused)) {
      const response = await put(path, 'x');
      expect(response.status, path).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code, path).toBe(code);
    }
    const unknown = await put('nobody/uploads/u1/model.json', '{}');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('model_not_found');
    expect(await aimesh.artifacts.list('models/nobody/')).toEqual([]);
  });

  it('refuses a body that is not application/octet-stream, and a caller without the operator role', async () => {
    const json = await fetch(`${aimesh.url}/api/v1/models/files/uploads/u2/model.json`, {
      method: 'PUT',
      headers: { ...adminHeaders(), 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(400);
    expect(((await json.json()) as { error: { code: string } }).error.code).toBe('invalid_content_type');
    const caller = await put('files/uploads/u2/model.json', '{}', await userHeaders(aimesh.url, ['caller']));
    expect(caller.status).toBe(403);
    expect(await aimesh.artifacts.exists('models/files/uploads/u2/model.json')).toBe(false);
  });
});
