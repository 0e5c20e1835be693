import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import type { ExecutionRecord, PipelineApi } from '../../src/pipeline/index.js';
import { adminHeaders, startTestAimesh } from '../support/aimesh.js';

/**
 * The local worker against failing stages: each stage is a small node script that counts its
 * runs in a file, so a test can make it fail a given number of times and see what ran.
 */
describe('the local worker when stages fail', () => {
  let aimesh: RunningAimesh;
  let pipeline: PipelineApi;
  const dir = mkdtempSync(join(tmpdir(), 'aimesh-stages-'));

  /** A command stage that records each run in `<name>.runs` and fails its first `failures` runs. */
  const counting = (name: string, failures: number, extra: Record<string, unknown> = {}) => ({
    name,
    type: 'command',
    params: {
      command: [
        process.execPath,
        '-e',
        `const fs=require('fs');const f=${JSON.stringify(join(dir, `${name}.runs`))};` +
          `fs.appendFileSync(f,Date.now()+'\\n');const n=fs.readFileSync(f,'utf8').trim().split('\\n').length;` +
          `if(n<=${failures}){console.error('failing run '+n);process.exit(3)}console.log('ok run '+n)`,
      ],
    },
    ...extra,
  });
  const runs = (name: string) => {
    try {
      return readFileSync(join(dir, `${name}.runs`), 'utf8')
        .trim()
        .split('\n')
        .map(Number);
    } catch {
      return [];
    }
  };
  const finished = async (id: string): Promise<ExecutionRecord> => {
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      const execution = await pipeline.getExecution(id);
      if (['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(execution.status)) return execution;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`execution ${id} did not finish`);
  };
  const run = (name: string, stages: unknown[]) =>
    pipeline.run({ name, dataset: { name: 'tiny' }, model: { name: 'm' }, stages }, 'test');

  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['pipeline', 'worker'],
      config: { worker: { pollMs: 20, heartbeatMs: 100 }, pipeline: { monitorIntervalMs: 100 } },
    });
    pipeline = aimesh.manager.api('pipeline') as PipelineApi;
    await aimesh.manager
      .api('registry')!
      .pushDataset({ name: 'tiny', data: new TextEncoder().encode('x,y\n1,a\n'), actor: 'test' });
  }, 60_000);

  afterAll(async () => {
    await aimesh?.stop();
  });

  it('retries a stage that fails twice, with exponential backoff, until it succeeds', async () => {
    const started = await run('flaky', [
      counting('flaky', 2, { retry: { maxAttempts: 3, initialBackoffMs: 300, maxBackoffMs: 1000 } }),
    ]);
    const done = await finished(started.id);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.stages[0].attempts).toBe(3);
    const [first, second, third] = runs('flaky');
    expect(second - first).toBeGreaterThanOrEqual(300);
    expect(third - second).toBeGreaterThanOrEqual(600);
  });

  it('fails the execution when the attempts run out, naming the stage', async () => {
    const started = await run('hopeless', [
      counting('hopeless', 5, { retry: { maxAttempts: 2, initialBackoffMs: 0 } }),
    ]);
    const done = await finished(started.id);
    expect(done.status).toBe('FAILED');
    expect(done.error).toMatch(/stage hopeless failed after 2 attempt\(s\).*code 3/);
    expect(runs('hopeless')).toHaveLength(2);
  });

  it('resumes a failed execution from the failed stage without running the finished ones again', async () => {
    const started = await run('resumable', [
      counting('first', 0),
      counting('second', 1, { dependsOn: ['first'] }),
      counting('third', 0, { dependsOn: ['second'] }),
    ]);
    const failed = await finished(started.id);
    expect(failed.status).toBe('FAILED');
    expect(failed.stages.map((s) => s.status)).toEqual(['SUCCEEDED', 'FAILED', 'CANCELLED']);
    await pipeline.resume(started.id);
    const resumed = await finished(started.id);
    expect(resumed.status).toBe('SUCCEEDED');
    expect(runs('first')).toHaveLength(1);
    expect(runs('second')).toHaveLength(2);
    expect(runs('third')).toHaveLength(1);
  });

  it('stops a running stage when its execution is cancelled', async () => {
    const marker = join(dir, 'slow.started');
    const started = await run('slow', [
      {
        name: 'slow',
        type: 'command',
        params: {
          command: [
            process.execPath,
            '-e',
            `require('fs').writeFileSync(${JSON.stringify(marker)},'1');setTimeout(()=>{},60000)`,
          ],
        },
      },
    ]);
    const until = Date.now() + 10_000;
    while (runs('slow.started').length === 0 && Date.now() < until) {
      try {
        readFileSync(marker);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await pipeline.cancel(started.id);
    const done = await finished(started.id);
    expect(done.status).toBe('CANCELLED');
    // The worker notices the lost lease at its next heartbeat and frees its slot.
    const workers = async () => (await pipeline.workers()).reduce((n, w) => n + w.running, 0);
    const free = Date.now() + 5_000;
    while ((await workers()) > 0 && Date.now() < free) await new Promise((r) => setTimeout(r, 50));
    expect(await workers()).toBe(0);
  });

  it('survives a trainer process killed with SIGKILL mid-task, and trains again', async () => {
    const csv = readFileSync('examples/datasets/iris.csv');
    await aimesh.manager.api('registry')!.pushDataset({ name: 'iris', data: csv, actor: 'test' });
    const started = await pipeline.run(
      {
        name: 'killed',
        dataset: { name: 'iris' },
        model: { name: 'm' },
        stages: [
          {
            name: 'prepare',
            type: 'prepare',
            params: { features: ['petalLength', 'petalWidth'], label: 'species' },
          },
          {
            name: 'train',
            type: 'train',
            dependsOn: ['prepare'],
            retry: { maxAttempts: 2, initialBackoffMs: 0 },
            params: { epochs: 5, hiddenLayers: [4] },
          },
        ],
      },
      'test',
    );
    const until = Date.now() + 30_000;
    let killed = 0;
    while (killed === 0 && Date.now() < until) {
      const execution = await pipeline.getExecution(started.id);
      if (execution.stages[1].status === 'RUNNING') {
        const children = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], {
          encoding: 'utf8',
        });
        for (const line of children.split('\n').filter((l) => l.includes('task-process'))) {
          process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
          killed++;
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(killed).toBeGreaterThan(0);
    const done = await finished(started.id);
    expect(done.status).toBe('SUCCEEDED');
    expect(done.stages[1].attempts).toBe(2);
    const logs = (await (
      await fetch(`${pipeline.url}/api/v1/training/executions/${started.id}/logs`, {
        headers: adminHeaders(),
      })
    ).json()) as {
      items: { line: string }[];
    };
    expect(logs.items.map((l) => l.line).join('\n')).toMatch(/task process exited \(signal SIGKILL\)/);
  }, 60_000);
});
