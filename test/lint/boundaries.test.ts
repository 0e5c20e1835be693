import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const depcruise = join(root, 'node_modules/.bin/depcruise');
const config = join(root, '.dependency-cruiser.cjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

/** Runs the project's rules over a tree and returns what they refuse. */
async function violations(cwd: string): Promise<Violation[]> {
  const result = await run(depcruise, ['src', '--config', config, '--output-type', 'json'], {
    cwd,
    timeout: 60_000,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  return (JSON.parse(result.stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

// One file per entry; each import crosses exactly the boundary its rule guards.
const tree: Record<string, string> = {
  'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } }),
  'node_modules/pg/package.json': JSON.stringify({ name: 'pg', main: 'index.js' }),
  'node_modules/pg/index.js': 'module.exports = {};\n',
  'src/kernel/clock.ts':
    "import { gatewayModule } from '../gateway/index.js';\nexport const c = gatewayModule;\n",
  'src/ports/database.ts': "import type { Clock } from '../kernel/clock.js';\nexport type D = Clock;\n",
  'src/gateway/index.ts': "import { x } from '../registry/repository.js';\nexport const gatewayModule = x;\n",
  'src/registry/index.ts': 'export const registryModule = 1;\n',
  'src/registry/repository.ts': "import pg from 'pg';\nexport const x = pg;\n",
  'src/inference/index.ts':
    "import { store } from '../adapters/memory/store.js';\nexport const inferenceModule = store;\n",
  'src/adapters/memory/store.ts':
    "import { registryModule } from '../../registry/index.js';\nexport const store = registryModule;\n",
  'src/events/index.ts': "import { table } from '../app/modules.js';\nexport const eventsModule = table;\n",
  'src/app/modules.ts': 'export const table = [];\n',
  'src/resilience/retry.ts':
    "import { registryModule } from '../registry/index.js';\nexport const r = registryModule;\n",
  'src/discovery/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
  'src/discovery/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n",
};

describe('npm run lint: the architecture rules', () => {
  let dir: string;
  let found: Violation[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aimesh-lint-'));
    for (const [path, text] of Object.entries(tree)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    found = await violations(dir);
  }, 90_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const refused = (rule: string, from: string, to: string) =>
    found.some((v) => v.rule.name === rule && v.from === from && v.to.startsWith(to));

  it('refuses a kernel file that imports a module', () => {
    expect(refused('kernel-imports-nothing-above', 'src/kernel/clock.ts', 'src/gateway/index.ts')).toBe(true);
  });

  it('refuses a port that imports anything but ports', () => {
    expect(refused('ports-are-interfaces', 'src/ports/database.ts', 'src/kernel/clock.ts')).toBe(true);
  });

  it("refuses a module that imports another module's file other than its index.ts", () => {
    expect(refused('modules-meet-through-index', 'src/gateway/index.ts', 'src/registry/repository.ts')).toBe(
      true,
    );
  });

  it('refuses a database driver outside src/adapters', () => {
    expect(refused('drivers-only-in-adapters', 'src/registry/repository.ts', 'node_modules/pg/')).toBe(true);
  });

  it('refuses a module that picks its own adapter', () => {
    expect(
      refused('adapters-only-from-wiring', 'src/inference/index.ts', 'src/adapters/memory/store.ts'),
    ).toBe(true);
  });

  it('refuses an adapter that imports a module', () => {
    expect(refused('adapters-implement-ports', 'src/adapters/memory/store.ts', 'src/registry/index.ts')).toBe(
      true,
    );
  });

  it('refuses a module that imports the wiring layer', () => {
    expect(refused('wiring-is-the-top', 'src/events/index.ts', 'src/app/modules.ts')).toBe(true);
  });

  it('refuses resilience code that imports a module', () => {
    expect(refused('resilience-is-a-library', 'src/resilience/retry.ts', 'src/registry/index.ts')).toBe(true);
  });

  it('refuses an import cycle', () => {
    expect(found.some((v) => v.rule.name === 'no-cycles' && v.from.startsWith('src/discovery/'))).toBe(true);
  });

  it('passes the real tree', async () => {
    expect(await violations(root)).toEqual([]);
  }, 90_000);
});
