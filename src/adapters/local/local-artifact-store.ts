import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { badRequest, notFound } from '../../kernel/errors.js';
import type { ArtifactStore } from '../../ports/artifact-store.js';

const SCHEME = 'artifact://';

/** An ArtifactStore in a local (or mounted, shared) directory. Writes are atomic (temp file + rename). */
export function createLocalArtifactStore(root: string): ArtifactStore {
  const base = resolve(root);
  const keyOf = (uriOrKey: string) =>
    uriOrKey.startsWith(SCHEME) ? uriOrKey.slice(SCHEME.length) : uriOrKey;
  const pathOf = (uriOrKey: string) => {
    const key = keyOf(uriOrKey);
    const path = resolve(base, key);
    if (key.length === 0 || key.includes('\0') || !path.startsWith(base + sep)) {
      throw badRequest(
        'invalid_artifact_key',
        `artifact key ${JSON.stringify(key)} must be a relative path inside the store`,
      );
    }
    return path;
  };
  const uri = (key: string) => `${SCHEME}${keyOf(key)}`;

  return {
    uri,
    async put(key, data) {
      const path = pathOf(key);
      await mkdir(dirname(path), { recursive: true });
      const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
      await writeFile(temp, data);
      await rename(temp, path);
      return uri(key);
    },
    async get(uriOrKey) {
      try {
        return new Uint8Array(await readFile(pathOf(uriOrKey)));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT')
          throw notFound('artifact_not_found', `no artifact at ${uri(uriOrKey)}`);
        throw error;
      }
    },
    async exists(uriOrKey) {
      try {
        return (await stat(pathOf(uriOrKey))).isFile();
      } catch {
        return false;
      }
    },
    async list(prefix) {
      const start = resolve(base, keyOf(prefix) || '.');
      const out: string[] = [];
      const walk = async (dir: string) => {
        let entries: import('node:fs').Dirent[];
        try {
          entries = await readdir(dir, { withFileTypes: true });
        } catch {
          return;
        }
        for (const entry of entries) {
          const path = join(dir, entry.name);
          if (entry.isDirectory()) await walk(path);
          else if (!entry.name.endsWith('.tmp')) out.push(relative(base, path).split(sep).join('/'));
        }
      };
      await walk(start);
      return out.sort();
    },
    async delete(uriOrKey) {
      await rm(pathOf(uriOrKey), { force: true });
    },
  };
}
