import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempModelsDir } from '../support/inference.js';
import { denseModel, onnxFiles, tfjsFiles, writeVersion } from '../support/models.js';

const bin = new URL('../../bin/aimesh.js', import.meta.url).pathname;
const run = promisify(execFile);

/** Runs the real `aimesh` binary (through tsx, as users do), not the modules under vitest. */
describe('aimesh models serve and aimesh infer', () => {
  let server: ChildProcess;
  let url: string;

  beforeAll(async () => {
    const dir = tempModelsDir();
    const model = denseModel(4, [[3, 'softmax']]);
    writeVersion(dir, 'iris', 1, await tfjsFiles(model));
    writeVersion(dir, 'iris', 2, await onnxFiles(model));
    writeFileSync(join(dir, 'README'), 'not a model');
    server = spawn(process.execPath, [bin, 'models', 'serve', dir, '--port', '0', '--max-batch-size', '8'], {
      env: { ...process.env, AIMESH_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    url = await new Promise<string>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`no "serving on" line in 90 s:\n${err}`)), 90_000);
      server.stderr?.on('data', (chunk: Buffer) => {
        err += chunk.toString();
        const match = /serving on (http:\/\/[^\s]+)/.exec(err);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      server.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${err}`)));
    });
  }, 120_000);
  afterAll(() => {
    server?.kill('SIGTERM');
  });

  it('serves both versions of a models directory, and infer calls it by version', async () => {
    const { stdout } = await run(process.execPath, [
      bin,
      'infer',
      'iris',
      '--input',
      '[5.1, 3.5, 1.4, 0.2]',
      '--version',
      '2',
      '--url',
      url,
    ]);
    expect(JSON.parse(stdout)).toMatchObject({
      modelId: 'iris',
      modelVersion: '2',
      predictions: [expect.any(Array)],
    });
    const v1 = await run(process.execPath, [
      bin,
      'infer',
      'iris',
      '--input',
      '[[1, 2, 3, 4]]',
      '--version',
      '1',
      '--url',
      url,
    ]);
    expect(JSON.parse(v1.stdout)).toMatchObject({ modelVersion: '1' });
  }, 60_000);

  it("infer exits non-zero with the server's message for an unknown model", async () => {
    await expect(
      run(process.execPath, [bin, 'infer', 'nope', '--input', '[1]', '--url', url]),
    ).rejects.toMatchObject({
      code: 3, // the server refused
      stderr: expect.stringMatching(/model "nope" is not loaded/),
    });
  }, 60_000);
});
