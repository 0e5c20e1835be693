import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { runAimesh } from '../support/processes.js';

/** User + system CPU seconds a process has used so far (Linux /proc). */
function cpuTime(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // Fields 14 and 15 of stat (utime, stime), counted from after the command name, in clock ticks.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe('aimesh start with no config (embedded defaults)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aimesh-start-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // The bound is on the process's CPU time: on a shared machine the wall clock measures the
  // neighbours. Wall time is still bounded, more loosely.
  it('serves /healthz and /metrics within 15 s of CPU time, then exits 0 on SIGTERM', async () => {
    const started = Date.now();
    // Port 0: the main and the inference listener each on a free port (a fixed one may be taken).
    const aimesh = runAimesh(['start', '--port', '0'], {
      AIMESH_DATABASE__DATA_DIR: join(dir, 'pglite'),
      AIMESH_ARTIFACTS__DIR: join(dir, 'artifacts'),
    });
    const url = await aimesh.url(60_000);
    let health = 0;
    while (health !== 200 && Date.now() - started < 60_000) {
      health = await request(`${url}/healthz`).then(
        async (r) => {
          await r.body.dump();
          return r.statusCode;
        },
        () => 0,
      );
      if (health !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    const cpuSeconds = cpuTime(aimesh.child.pid!);
    expect(health, aimesh.output()).toBe(200);
    const metrics = await request(`${url}/metrics`);
    expect(metrics.statusCode).toBe(200);
    expect(await metrics.body.text()).toContain('aimesh_relay_published_total');
    expect(cpuSeconds).toBeLessThan(15);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(await aimesh.stop()).toBe(0);
  }, 90_000);
});
