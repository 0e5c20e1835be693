import { createHash } from 'node:crypto';
import { badRequest, conflict } from '../kernel/errors.js';
import type { ArtifactStore } from '../ports/artifact-store.js';
import type { ModelRepository } from './model-repository.js';
import { checkName } from './registry-service.js';

// An upload groups the files of one model version before it is registered; the client names it.
const UPLOAD_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
// Each segment of a file path inside an upload: plain names only, so no path climbs out of it.
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const MAX_DEPTH = 8;

/** A stored model file: where it is and what was stored. */
export interface StoredModelFile {
  uri: string;
  sizeBytes: number;
  sha256: string;
}

/** The artifact key prefix of upload `upload` of `model` (its URI, with a trailing `/`, is a version's folder). */
export function uploadPrefix(model: string, upload: string): string {
  return `models/${model}/uploads/${upload}/`;
}

/**
 * Stores one file of a model's upload in the artifact store, under
 * `models/<model>/uploads/<upload>/<path>`. The model must be registered. A file is never
 * replaced (409): a version registered on an upload keeps the bytes it was registered with.
 */
export async function storeModelFile(
  artifacts: ArtifactStore,
  models: ModelRepository,
  file: { model: string; upload: string; path: string; data: Uint8Array },
): Promise<StoredModelFile> {
  checkName('model', file.model);
  if (!UPLOAD_ID.test(file.upload))
    throw badRequest(
      'invalid_upload_id',
      `upload id "${file.upload}" must be 1-64 letters, digits, "_" or "-", starting with a letter or digit`,
    );
  const segments = file.path.split('/');
  if (segments.length > MAX_DEPTH || !segments.every((s) => SEGMENT.test(s) && !/^\.+$/.test(s)))
    throw badRequest(
      'invalid_file_path',
      `file path "${file.path}" must be at most ${MAX_DEPTH} "/"-separated names of letters, digits, ".", "_" or "-" (none starting with ".")`,
    );
  await models.getModel(file.model); // 404 model_not_found first: files belong to a registered model
  const key = `${uploadPrefix(file.model, file.upload)}${file.path}`;
  if (await artifacts.exists(key))
    throw conflict(
      'artifact_exists',
      `${artifacts.uri(key)} is already stored and is never replaced; upload the files again under a new upload id`,
    );
  const uri = await artifacts.put(key, file.data);
  return {
    uri,
    sizeBytes: file.data.byteLength,
    sha256: createHash('sha256').update(file.data).digest('hex'),
  };
}
