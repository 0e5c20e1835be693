import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { usageError } from './cli-errors.js';

/** A model on this machine, as it is uploaded: its format and its files (paths inside the version folder). */
export interface LocalModel {
  format: 'tfjs' | 'onnx';
  files: { path: string; data: Uint8Array }[];
}

const FORMATS_HINT = 'give a TF.js model folder (model.json and its weights) or an .onnx file';

/**
 * Reads a user's model for upload: a TF.js folder (or its model.json) with every weights file
 * its manifest lists, or one ONNX file (a folder holding exactly one is that file). The files
 * are named as the model server looks for them in a version folder: `model.json` (its weights
 * beside it) or `model.onnx`. Anything else is a usage error naming the path.
 */
export async function readLocalModel(path: string): Promise<LocalModel> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT')
      throw usageError('path_not_found', `${path} does not exist; ${FORMATS_HINT}`);
    throw error;
  });
  if (info.isDirectory()) {
    const names = await readdir(path);
    if (names.includes('model.json')) return readTfjs(path, 'model.json');
    const onnx = names.filter((n) => extname(n).toLowerCase() === '.onnx');
    if (onnx.length === 1) return readOnnx(join(path, onnx[0]));
    if (onnx.length > 1)
      throw usageError(
        'ambiguous_model',
        `${path} holds ${onnx.length} .onnx files (${onnx.sort().join(', ')}); give the one to register`,
      );
    throw usageError(
      'unknown_model_format',
      `${path} holds neither model.json nor an .onnx file; ${FORMATS_HINT}`,
    );
  }
  const extension = extname(path).toLowerCase();
  if (info.isFile() && extension === '.onnx') return readOnnx(path);
  if (info.isFile() && extension === '.json') return readTfjs(dirname(path), basename(path));
  throw usageError('unknown_model_format', `${path} is not a model format aimesh serves; ${FORMATS_HINT}`);
}

async function readOnnx(file: string): Promise<LocalModel> {
  const data = new Uint8Array(await readFile(file));
  if (data.byteLength === 0) throw usageError('invalid_model', `${file} is empty; it is not an ONNX model`);
  return { format: 'onnx', files: [{ path: 'model.onnx', data }] };
}

async function readTfjs(dir: string, jsonName: string): Promise<LocalModel> {
  const file = join(dir, jsonName);
  const data = new Uint8Array(await readFile(file));
  let manifest: unknown;
  try {
    manifest = JSON.parse(new TextDecoder().decode(data));
  } catch (error) {
    throw usageError('invalid_model', `${file} is not JSON (${(error as Error).message})`);
  }
  const { modelTopology, weightsManifest } = (manifest ?? {}) as Record<string, unknown>;
  if (typeof modelTopology !== 'object' || modelTopology === null || !Array.isArray(weightsManifest))
    throw usageError(
      'invalid_model',
      `${file} is not a TF.js model.json: it needs a modelTopology object and a weightsManifest array`,
    );
  const weights = weightsManifest.flatMap((group) => (group as { paths?: unknown }).paths ?? []);
  const files = [{ path: 'model.json', data }];
  for (const weight of new Set(weights)) {
    if (
      typeof weight !== 'string' ||
      weight === '' ||
      weight.startsWith('/') ||
      weight.split('/').includes('..')
    )
      throw usageError(
        'invalid_model',
        `${file} lists the weights file ${JSON.stringify(weight)}, which is not a path inside its folder`,
      );
    const weightData = await readFile(join(dir, weight)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT')
        throw usageError(
          'missing_weights',
          `${join(dir, weight)} is missing: ${jsonName} lists it in its weightsManifest`,
        );
      throw error;
    });
    files.push({ path: weight, data: new Uint8Array(weightData) });
  }
  return { format: 'tfjs', files };
}
