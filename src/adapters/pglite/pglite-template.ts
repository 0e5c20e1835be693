import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';

/**
 * PGlite's first start runs initdb inside WASM: about ten seconds of CPU, most of a fresh
 * start. The cluster initdb makes is the same every time, so we make it once (at `npm ci`,
 * or on first use) and later fresh databases unpack it instead, which costs a third as much.
 */
function templateFile(): string {
  const root = pgliteRoot();
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string })
    .version;
  // node_modules/.cache is where tools keep derived files; keyed by version, since a template
  // from another PGlite build may not load.
  return join(dirname(dirname(root)), '.cache', 'aimesh', `pglite-${version}-template.tar.gz`);
}

/** The installed PGlite package's folder, found the way Node resolves packages: walking up. */
function pgliteRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 50; i++) {
    const candidate = join(dir, 'node_modules', '@electric-sql', 'pglite');
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error('@electric-sql/pglite is not installed');
}

/** The template cluster as a tarball, or undefined when it has not been made yet. */
export function pgliteTemplate(): Blob | undefined {
  try {
    const file = templateFile();
    return existsSync(file) ? new Blob([readFileSync(file)]) : undefined;
  } catch {
    return undefined;
  }
}

/** True when `dataDir` holds no cluster yet (so a template can seed it). */
export function isFreshDataDir(dataDir: string): boolean {
  if (dataDir.startsWith('memory://')) return true;
  return !existsSync(dataDir) || readdirSync(dataDir).length === 0;
}

/** Makes the template cluster unless it exists; returns its path. */
export async function ensurePgliteTemplate(): Promise<string> {
  const file = templateFile();
  if (existsSync(file)) return file;
  const db = await PGlite.create('memory://');
  try {
    const dump = await db.dumpDataDir('gzip');
    mkdirSync(dirname(file), { recursive: true });
    // Write then rename, so a concurrent reader never sees half a template.
    const partial = `${file}.${process.pid}.partial`;
    writeFileSync(partial, Buffer.from(await dump.arrayBuffer()));
    renameSync(partial, file);
  } finally {
    await db.close();
  }
  return file;
}
