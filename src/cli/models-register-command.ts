import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { isAimeshError } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import { usageError } from './cli-errors.js';
import { callApi, sendBytes } from './client.js';
import { readLocalModel } from './local-model-files.js';
import { modelsGroup } from './models-command.js';

interface RegisterOptions {
  name: string;
  type: string;
  description?: string;
  metric: Record<string, number>;
}

/** A commander collector of `key=value` metrics into a record; a value must be a finite number. */
function metricOption(value: string, previous: Record<string, number>): Record<string, number> {
  const at = value.indexOf('=');
  const key = at > 0 ? value.slice(0, at).trim() : '';
  const number = at > 0 && value.slice(at + 1).trim() !== '' ? Number(value.slice(at + 1)) : Number.NaN;
  if (key === '' || !Number.isFinite(number))
    throw new InvalidArgumentError('give key=number, e.g. accuracy=0.97.');
  return { ...previous, [key]: number };
}

/** The model `name` with `type`: created when missing; an existing one of another type is refused. */
async function ensureModel(options: RegisterOptions): Promise<void> {
  try {
    await callApi('POST', '/api/v1/models', {
      name: options.name,
      type: options.type,
      ...(options.description ? { description: options.description } : {}),
    });
  } catch (error) {
    if (!(isAimeshError(error) && error.status === 409)) throw error;
    const existing = await callApi<{ type: string }>(
      'GET',
      `/api/v1/models/${encodeURIComponent(options.name)}`,
    );
    if (existing.type !== options.type)
      throw usageError(
        'type_mismatch',
        `model ${options.name} is registered with type ${existing.type}, not ${options.type}; give --type ${existing.type} or another --name`,
      );
  }
}

function size(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** `aimesh models register <dir|file> --name --type`: a user's own model files, uploaded and registered. */
export function registerModelsRegisterCommand(program: Command): void {
  modelsGroup(program)
    .command('register')
    .description(
      'upload your own model (a TF.js folder with model.json and weights, or an .onnx file) to the artifact store and register it as a new version',
    )
    .argument('<path>', 'TF.js model folder (or its model.json), or an .onnx file')
    .requiredOption('--name <name>', 'registered model name (registered when missing)')
    .requiredOption('--type <type>', 'type/task of the model, e.g. classification')
    .option('--description <text>', 'what the model is (when it is registered now)')
    .option(
      '--metric <key=value>',
      'a metric of this version, e.g. accuracy=0.97 (repeat it; promotion rules read these)',
      metricOption,
      {},
    )
    .action(async (path: string, options: RegisterOptions) => {
      // Everything local is checked before anything is sent, so a bad path leaves no trace.
      const local = await readLocalModel(path);
      await ensureModel(options);
      const model = encodeURIComponent(options.name);
      const upload = newId();
      let folder = '';
      for (const file of local.files) {
        const filePath = file.path.split('/').map(encodeURIComponent).join('/');
        const stored = await sendBytes<{ folder: string }>(
          'PUT',
          `/api/v1/models/${model}/uploads/${upload}/${filePath}`,
          file.data,
          'application/octet-stream',
        );
        folder = stored.folder;
      }
      const version = await callApi<{ version: number }>('POST', `/api/v1/models/${model}/versions`, {
        format: local.format,
        artifactUri: folder,
        metrics: options.metric,
        params: { uploadedFrom: basename(resolve(path)), files: local.files.map((f) => f.path) },
      });
      const bytes = local.files.reduce((sum, f) => sum + f.data.byteLength, 0);
      console.log(
        `registered ${options.name} v${version.version} (${local.format}, ${local.files.length} file${local.files.length === 1 ? '' : 's'}, ${size(bytes)}) at ${folder}`,
      );
      console.log(
        `serve it with: aimesh models promote ${options.name} ${version.version} --alias production`,
      );
    });
}
