import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import semver from 'semver';
import { afterEach, describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;
const readJson = (file: string) =>
  JSON.parse(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'));
const pkg = readJson('package.json');
const lock = readJson('package-lock.json');
const script = new URL('../../scripts/prune-onnxruntime.js', import.meta.url).pathname;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('install', () => {
  it('runs the onnxruntime-node prune after install', () => {
    expect(pkg.scripts.postinstall).toContain('node scripts/prune-onnxruntime.js');
  });

  it("keeps only this platform's onnxruntime-node binaries", () => {
    const bin = mkdtempSync(join(tmpdir(), 'aimesh-ort-'));
    dirs.push(bin);
    const all = [
      'darwin/arm64',
      'linux/arm64',
      'linux/x64',
      'win32/x64',
      `${process.platform}/${process.arch}`,
    ];
    for (const dir of all) {
      mkdirSync(join(bin, dir), { recursive: true });
      writeFileSync(join(bin, dir, 'onnxruntime_binding.node'), 'x');
    }
    const out = execFileSync(process.execPath, [script, bin], { encoding: 'utf8' });
    expect(out).toContain('removed onnxruntime-node binaries of');
    for (const dir of all) {
      expect(existsSync(join(bin, dir))).toBe(dir === `${process.platform}/${process.arch}`);
    }
  });

  it('leaves the installed runtime loadable', async () => {
    const ort = await import('onnxruntime-node');
    expect(typeof ort.InferenceSession.create).toBe('function');
  });

  it('installs nothing whose engines exclude the oldest Node aimesh supports', () => {
    const oldest = semver.minVersion(pkg.engines.node)!.version;
    const excluding = Object.entries(lock.packages as Record<string, { engines?: { node?: string } }>)
      .filter(([, entry]) => entry.engines?.node && !semver.satisfies(oldest, entry.engines.node))
      .map(([path, entry]) => `${path} (${entry.engines!.node})`);
    expect(excluding).toEqual([]);
  });

  it('answers the install-script question for every dependency that has one', () => {
    const withScripts = Object.entries(lock.packages as Record<string, { hasInstallScript?: boolean }>)
      .filter(([path, entry]) => path !== '' && entry.hasInstallScript)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length));
    expect(withScripts.length).toBeGreaterThan(0);
    expect(withScripts.filter((name) => !(name in pkg.allowScripts))).toEqual([]);
  });

  it('sets no npm option that npm does not know', () => {
    const run = spawnSync('npm', ['config', 'get', 'fund'], { cwd: root, encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stderr).not.toMatch(/Unknown (project|user|env) config/);
  });
});
