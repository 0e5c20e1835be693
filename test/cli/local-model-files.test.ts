import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLocalModel } from '../../src/cli/local-model-files.js';
import { denseModel, onnxFiles, tfjsFiles } from '../support/models.js';

const work = mkdtempSync(join(tmpdir(), 'aimesh-local-model-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function folder(name: string, files: Record<string, Uint8Array | string>): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, data] of Object.entries(files)) writeFileSync(join(dir, file), data);
  return dir;
}

/** The code and message readLocalModel refuses `path` with. */
async function refusal(path: string): Promise<{ code: string; message: string }> {
  const error = await readLocalModel(path).then(
    () => {
      throw new Error(`${path} was accepted`);
    },
    (e: { code: string; message: string }) => e,
  );
  return { code: error.code, message: error.message };
}

const model = denseModel(3, [[2, 'softmax']], 3);

describe('readLocalModel', () => {
  it('reads a TF.js folder as model.json plus every weights file its manifest lists', async () => {
    const files = await tfjsFiles(model);
    const dir = folder('tfjs', { ...files, 'notes.txt': 'not uploaded' });
    const local = await readLocalModel(dir);
    expect(local.format).toBe('tfjs');
    expect(local.files.map((f) => f.path).sort()).toEqual(Object.keys(files).sort());
    for (const file of local.files)
      expect(Buffer.from(file.data).equals(Buffer.from(files[file.path]))).toBe(true);
  });

  it('reads a model.json given by another name as model.json, its weights beside it', async () => {
    const files = await tfjsFiles(model);
    const dir = folder('renamed', { 'iris.json': files['model.json'], 'weights.bin': files['weights.bin'] });
    const local = await readLocalModel(join(dir, 'iris.json'));
    expect(local.files.map((f) => f.path)).toEqual(['model.json', 'weights.bin']);
  });

  it('reads an .onnx file, or a folder holding exactly one, as model.onnx', async () => {
    const onnx = (await onnxFiles(model))['model.onnx'];
    const dir = folder('onnx', { 'Churn.ONNX': onnx });
    for (const path of [dir, join(dir, 'Churn.ONNX')]) {
      const local = await readLocalModel(path);
      expect(local.format).toBe('onnx');
      expect(local.files).toHaveLength(1);
      expect(local.files[0].path).toBe('model.onnx');
      expect(Buffer.from(local.files[0].data).equals(Buffer.from(onnx))).toBe(true);
    }
  });

  it('refuses a path that does not exist, naming it', async () => {
    expect(await refusal(join(work, 'nowhere'))).toEqual({
      code: 'path_not_found',
      message: `${join(work, 'nowhere')} does not exist; give a TF.js model folder (model.json and its weights) or an .onnx file`,
    });
  });

  it('refuses a file or folder of another format', async () => {
    const dir = folder('table', { 'data.csv': 'a,b\n1,2\n' });
    expect(await refusal(join(dir, 'data.csv'))).toMatchObject({
      code: 'unknown_model_format',
      message: expect.stringContaining('data.csv is not a model format aimesh serves'),
    });
    expect(await refusal(dir)).toMatchObject({
      code: 'unknown_model_format',
      message: expect.stringContaining('holds neither model.json nor an .onnx file'),
    });
  });

  it('refuses a folder with two .onnx files, naming both', async () => {
    const dir = folder('two', { 'a.onnx': 'x', 'b.onnx': 'y' });
    expect(await refusal(dir)).toEqual({
      code: 'ambiguous_model',
      message: `${dir} holds 2 .onnx files (a.onnx, b.onnx); give the one to register`,
    });
  });

  it('refuses an empty .onnx file', async () => {
    const dir = folder('empty', { 'model.onnx': '' });
    expect((await refusal(join(dir, 'model.onnx'))).code).toBe('invalid_model');
  });

  it('refuses a model.json that is not JSON, not a TF.js model, or misses a weights file', async () => {
    expect(await refusal(folder('not-json', { 'model.json': 'not json' }))).toMatchObject({
      code: 'invalid_model',
      message: expect.stringContaining('model.json is not JSON'),
    });
    expect(await refusal(folder('not-tfjs', { 'model.json': '{"format":"keras"}' }))).toMatchObject({
      code: 'invalid_model',
      message: expect.stringContaining('needs a modelTopology object and a weightsManifest array'),
    });
    const { 'model.json': manifest } = await tfjsFiles(model);
    const dir = folder('no-weights', { 'model.json': manifest });
    expect(await refusal(dir)).toEqual({
      code: 'missing_weights',
      message: `${join(dir, 'weights.bin')} is missing: model.json lists it in its weightsManifest`,
    });
  });

  it('refuses weights paths that leave the folder', async () => {
    for (const path of ['../secret.bin', '/etc/passwd', '']) {
      const json = JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: [path], weights: [] }] });
      const dir = folder(`escape-${path.length}`, { 'model.json': json });
      expect(await refusal(dir), path).toMatchObject({
        code: 'invalid_model',
        message: expect.stringContaining('which is not a path inside its folder'),
      });
    }
  });
});
