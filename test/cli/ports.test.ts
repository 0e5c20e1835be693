import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { inferencePortFor } from '../../src/inference/config.js';
import { freePort } from '../support/ports.js';
import { type AimeshProcess, runAimesh } from '../support/processes.js';

const env = { AIMESH_DATABASE__DATA_DIR: 'memory://' };
const running: AimeshProcess[] = [];
const held: Server[] = [];

function hold(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** A free port whose next port is free too (a few tries: a neighbour may hold it). */
async function freePair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort();
    if (port >= 65_535) continue;
    const next = await hold(port + 1);
    if (next) {
      await new Promise((r) => next.close(r));
      return port;
    }
  }
  throw new Error('no two adjacent free ports found in 20 tries');
}

afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
  for (const s of held.splice(0)) await new Promise((r) => s.close(r));
});

describe('listener ports follow --port', () => {
  it('puts the inference listener on the main port + 1, and both on free ports for --port 0', () => {
    expect(inferencePortFor(8080)).toBe(8081);
    expect(inferencePortFor(9090)).toBe(9091);
    expect(inferencePortFor(0)).toBe(0);
  });

  it('aimesh start --port P listens on P and the inference listener on P + 1', async () => {
    const port = await freePair();
    const aimesh = runAimesh(['start', '--target', 'inference', '--port', String(port)], env);
    running.push(aimesh);
    await aimesh.url(60_000);
    expect(aimesh.output()).toContain(
      `listening on http://127.0.0.1:${port} (inference on http://127.0.0.1:${port + 1};`,
    );
  }, 90_000);

  for (const [which, setting] of [
    ['main', 'set server.port (--port, AIMESH_PORT) to another port'],
    ['inference', 'set inference.server.port to another port'],
  ] as const) {
    it(`a ${which} port in use is one line naming ${setting.split(' ')[1]}, exit code 2`, async () => {
      const port = await freePair();
      const taken = await hold(which === 'main' ? port : port + 1);
      held.push(taken!);
      const aimesh = runAimesh(['start', '--target', 'inference', '--port', String(port)], env);
      const code = await aimesh.exited;
      const lines = aimesh.output().trim().split('\n');
      expect(code, aimesh.output()).toBe(2);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`127.0.0.1:${which === 'main' ? port : port + 1} is in use; ${setting}`);
    }, 90_000);
  }
});
