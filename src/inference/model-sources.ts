import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { readSection } from '../kernel/config.js';
import { badRequest, notFound } from '../kernel/errors.js';
import type { ArtifactStore } from '../ports/artifact-store.js';
import type { ModelSource } from '../ports/model-runtime.js';
import type { ModelVersionRecord } from '../registry/index.js';
import { ModelConfig } from './config.js';

/** A version ready to hand to a runtime: which format, and where its files are. */
export interface VersionSource {
  format: string;
  source: ModelSource;
}

/** One model of a models directory. */
export interface DirectoryModel {
  name: string;
  config: ModelConfig;
  versions: number[];
}

const entryFiles: Record<string, string> = { onnx: 'model.onnx', tfjs: 'model.json' };

/** Reads files inside `root` only; a path that escapes it is a 400. */
function folderSource(root: string, entry: string, options?: Record<string, unknown>): ModelSource {
  const base = resolve(root);
  return {
    entry,
    options,
    async read(path) {
      const full = resolve(base, path);
      if (!full.startsWith(base + sep))
        throw badRequest('invalid_model_path', `${path} is outside the model folder`);
      try {
        return new Uint8Array(await readFile(full));
      } catch {
        throw notFound('model_file_not_found', `model file ${path} is missing`);
      }
    },
  };
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

/** Lists a Triton-style model repository: `<dir>/<model>/<version>/…` plus optional `config.json`. */
export async function scanModelsDir(dir: string): Promise<DirectoryModel[]> {
  const models: DirectoryModel[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    const folder = join(dir, entry.name);
    const config = await readModelConfig(folder);
    const versions: number[] = [];
    for (const v of await readdir(folder, { withFileTypes: true })) {
      if (v.isDirectory() && /^[1-9]\d{0,8}$/.test(v.name)) versions.push(Number(v.name));
    }
    // A remote model has no files; its upstream is one version.
    if (config.remote && versions.length === 0) versions.push(1);
    if (versions.length > 0)
      models.push({ name: entry.name, config, versions: versions.sort((a, b) => a - b) });
  }
  return models.sort((a, b) => a.name.localeCompare(b.name));
}

async function readModelConfig(folder: string): Promise<ModelConfig> {
  const path = join(folder, 'config.json');
  if (!(await isFile(path))) return {};
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw badRequest(
      'invalid_model_config',
      `${basename(folder)}/config.json is not valid JSON: ${(error as Error).message}`,
    );
  }
  return readSection(ModelConfig, json, `/${basename(folder)}/config.json`);
}

/** The files of one directory version, ONNX first when `preferOnnx` and both exist. */
export async function directoryVersionSource(
  dir: string,
  model: DirectoryModel,
  version: number,
  preferOnnx: boolean,
): Promise<VersionSource> {
  const { remote, platform } = model.config;
  if (remote)
    return {
      format: platform ?? 'v2',
      source: {
        entry: '',
        read: async () => new Uint8Array(),
        options: { ...remote, model: remote.model ?? model.name },
      },
    };
  const folder = join(dir, model.name, String(version));
  const order = platform ? [platform] : preferOnnx ? ['onnx', 'tfjs'] : ['tfjs', 'onnx'];
  for (const format of order) {
    const entry = entryFiles[format];
    if (entry && (await isFile(join(folder, entry)))) return { format, source: folderSource(folder, entry) };
  }
  throw notFound('model_file_not_found', `${model.name}/${version} holds neither model.onnx nor model.json`);
}

/** A single model file served as version 1 of a model named after the file (or its folder for model.json). */
export async function singleFileModel(path: string): Promise<{ name: string; source: VersionSource }> {
  const full = resolve(path);
  if (full.endsWith('.onnx'))
    return {
      name: basename(full, '.onnx').replace(/^model$/, basename(dirname(full))),
      source: { format: 'onnx', source: folderSource(dirname(full), basename(full)) },
    };
  if (full.endsWith('.json'))
    return {
      name: basename(dirname(full)),
      source: { format: 'tfjs', source: folderSource(dirname(full), basename(full)) },
    };
  throw badRequest('unsupported_model_file', `${path}: expected a .onnx file or a TF.js model.json`);
}

/** The artifacts of a registry version, ONNX first when `preferOnnx` and the version has one. */
export function registryVersionSource(
  record: ModelVersionRecord,
  artifacts: ArtifactStore,
  preferOnnx: boolean,
): VersionSource {
  const all = [{ format: record.format, uri: record.artifactUri }, ...(record.artifacts ?? [])];
  const known = all.filter((a) => a.format === 'onnx' || a.format === 'tfjs');
  known.sort((a, b) => (a.format === b.format ? 0 : (a.format === 'onnx') === preferOnnx ? -1 : 1));
  const chosen = known[0];
  if (!chosen)
    throw badRequest(
      'unsupported_format',
      `${record.model} v${record.version} has no tfjs or onnx artifact (format ${record.format})`,
    );
  // A folder URI (ending in /) holds model.json or model.onnx; otherwise the URI is the file itself.
  const folder = chosen.uri.endsWith('/');
  const base = folder ? chosen.uri : chosen.uri.slice(0, chosen.uri.lastIndexOf('/') + 1);
  const entry = folder ? entryFiles[chosen.format] : chosen.uri.slice(base.length);
  return {
    format: chosen.format,
    source: {
      entry,
      read: (path) => {
        if (path.split('/').includes('..'))
          throw badRequest('invalid_model_path', `${path} is outside the model folder`);
        return artifacts.get(base + path);
      },
    },
  };
}
