import { execFile } from 'node:child_process';
import { copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AimeshProcess, runAimesh } from '../support/processes.js';

// The examples run in a folder holding the iris.csv they push and the example pipelines they run.
const cwd = mkdtempSync(join(tmpdir(), 'aimesh-readme-'));
copyFileSync(new URL('../../src/registry/samples/iris.csv', import.meta.url), join(cwd, 'iris.csv'));
cpSync(new URL('../../examples', import.meta.url), join(cwd, 'examples'), { recursive: true });
const bin = new URL('../../bin/aimesh.js', import.meta.url).pathname;

/** Every `npx aimesh …` line of the README's shell blocks, without its comment. */
function readmeCommands(): string[] {
  const commands: string[] = [];
  let inBlock = false;
  for (const line of readFileSync(new URL('../../README.md', import.meta.url), 'utf8').split('\n')) {
    if (line.startsWith('```')) {
      inBlock = !inBlock && (line.trim() === '```sh' || line.trim() === '```bash');
      continue;
    }
    if (inBlock && line.startsWith('npx aimesh ')) commands.push(line.replace(/\s+#.*$/, '').trim());
  }
  return commands;
}

/** Splits a README line as the shell would (single quotes only; the README uses no others). */
function words(command: string): string[] {
  return [...command.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd, env: { ...process.env, AIMESH_LOG_LEVEL: 'warn', ...env }, timeout: 60_000 },
      (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? -1) : 0, stderr }),
    );
  });
}

const commands = readmeCommands();
// Placeholders (<id>, [name], 0193...) are not meant to be typed as they stand.
const literal = commands.filter((c) => !/[<[]|\.\.\./.test(c));
// These run until stopped (covered by their own tests); here their syntax is checked with --help.
const longRunning = (c: string) =>
  / (start|models serve|experiment run)\b/.test(c) || (/events tail/.test(c) && !/--count/.test(c));

describe("the README's CLI examples", () => {
  let aimesh: AimeshProcess;
  let url = '';
  beforeAll(async () => {
    aimesh = runAimesh(['start', '--port', '0'], {
      AIMESH_DATABASE__DATA_DIR: 'memory://',
      AIMESH_GATEWAY__AUTH__ADMIN_TOKEN: 'change-me-16-chars-min',
    });
    url = await aimesh.url(90_000);
  }, 120_000);
  afterAll(async () => {
    await aimesh?.stop();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('are found (the README has CLI examples in every section that promises them)', () => {
    expect(commands.length).toBeGreaterThan(20);
    expect(literal.length).toBeGreaterThan(15);
  });

  it('run as written against a running instance: done, or refused by the server for data a fresh one lacks', async () => {
    const env = { AIMESH_URL: url, AIMESH_ADMIN_TOKEN: 'change-me-16-chars-min' };
    const failures: string[] = [];
    for (const command of literal) {
      const args = words(command)
        .slice(2)
        .map((w) => w.replace('http://127.0.0.1:8080', url));
      const ran = longRunning(command) ? await run([...args, '--help'], env) : await run(args, env);
      // 0: done; 3: the server refused (a model the fresh instance does not have).
      if (ran.code !== 0 && ran.code !== 3)
        failures.push(`${command} → exit ${ran.code}: ${ran.stderr.trim()}`);
    }
    expect(failures).toEqual([]);
  }, 240_000);
});
