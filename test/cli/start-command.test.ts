import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { runAimesh } from '../support/processes.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe('aimesh start with no config (embedded defaults)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aimesh-start-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves /healthz and /metrics within 15 s, then exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const started = Date.now();
    const aimesh = runAimesh(['start', '--port', String(port)], {
      AIMESH_DATABASE__DATA_DIR: join(dir, 'pglite'),
      AIMESH_ARTIFACTS__DIR: join(dir, 'artifacts'),
    });
    let health = 0;
    while (health !== 200 && Date.now() - started < 15_000) {
      health = await request(`http://127.0.0.1:${port}/healthz`).then(
        async (r) => {
          await r.body.dump();
          return r.statusCode;
        },
        () => 0,
      );
      if (health !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(health, aimesh.output()).toBe(200);
    const metrics = await request(`http://127.0.0.1:${port}/metrics`);
    expect(metrics.statusCode).toBe(200);
    expect(await metrics.body.text()).toContain('aimesh_relay_published_total');
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await aimesh.stop()).toBe(0);
  }, 40_000);
});
