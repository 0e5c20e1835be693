import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { adminHeaders, startTestAimesh, TEST_ADMIN_TOKEN } from '../support/aimesh.js';

// Starting PGlite and migrating every module takes tens of seconds on a loaded machine.
const START_TIMEOUT_MS = 120_000;

const run = promisify(execFile);
const bin = new URL('../../bin/aimesh.js', import.meta.url).pathname;
const irisCsv = new URL('../../src/registry/samples/iris.csv', import.meta.url).pathname;

// Each command is a fresh Node process compiling TypeScript: seconds apiece on a busy machine.
const CLI_TEST_TIMEOUT = 120_000;

describe('aimesh datasets / models / lineage commands', () => {
  let aimesh: RunningAimesh;
  const cli = async (...args: string[]) => {
    try {
      const { stdout } = await run(process.execPath, [bin, ...args], {
        env: {
          ...process.env,
          AIMESH_URL: aimesh.url,
          AIMESH_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
          AIMESH_ACTOR: 'cli-user',
        },
        timeout: 60_000,
      });
      return { code: 0, stdout, stderr: '' };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  beforeAll(async () => {
    aimesh = await startTestAimesh({ targets: ['registry'] });
  }, START_TIMEOUT_MS);
  afterAll(() => aimesh?.stop());

  it(
    'pushes a CSV file as a content-addressed version, recorded as the authenticated principal, never AIMESH_ACTOR',
    async () => {
      const pushed = await cli('datasets', 'push', irisCsv, '--name', 'iris');
      expect(pushed.code).toBe(0);
      expect(pushed.stdout).toMatch(/^stored iris@[0-9a-f]{64} \(150 rows; sepalLength:number/);
      const [version] = (await aimesh.events.query({ type: 'ai.dataset.version.created' })).map(
        (e) => e.data,
      );
      // The admin token proves `admin`; the actor header it sends is not proof of anything.
      expect(version).toMatchObject({ dataset: 'iris', actor: 'admin' });
    },
    CLI_TEST_TIMEOUT,
  );

  it(
    'reports a refused promotion with its rule and a non-zero exit, and walks lineage',
    async () => {
      const api = (path: string, body: unknown) =>
        fetch(`${aimesh.url}${path}`, {
          method: 'POST',
          headers: { ...adminHeaders(), 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      await api('/api/v1/models', { name: 'iris-classifier', type: 'classification' });
      await api('/api/v1/models/iris-classifier/versions', {
        format: 'tfjs',
        artifactUri: 'artifact://models/iris-classifier/1/',
        metrics: { accuracy: 0.9 },
        runId: 'train-1',
        dataset: 'iris',
        datasetVersion: 'abc',
      });
      const refused = await cli('models', 'promote', 'iris-classifier', '1', '--alias', 'production');
      expect(refused.code).toBe(3);
      expect(refused.stderr).toContain('rule "accuracy > 0.95" failed');
      const lineage = await cli('lineage', 'iris-classifier@1');
      expect(lineage.stdout).toBe(
        'upstream of model:iris-classifier@1:\n  dataset:iris@abc -> run:train-1\n  run:train-1 -> model:iris-classifier@1\n',
      );
    },
    CLI_TEST_TIMEOUT,
  );
});
