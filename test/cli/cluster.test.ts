import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminHeaders, TEST_ADMIN_TOKEN, userHeaders } from '../support/aimesh.js';
import { testStream } from '../support/nats.js';
import { freePort } from '../support/ports.js';
import { runAimesh } from '../support/processes.js';
import { createTestDatabase, NATS_URL, REDIS_URL, serviceAvailable } from '../support/services.js';

describe('aimesh start --workers refuses state the workers would not share', () => {
  it.each(['0', 'many', '1.5'])(
    'refuses --workers %s naming server.workers, and exits 2',
    async (workers) => {
      const aimesh = runAimesh(['start', '--workers', workers, '--port', '0']);
      expect(await aimesh.exited).toBe(2);
      expect(aimesh.output()).toMatch(/invalid configuration:[\s\S]*\/server\/workers: expected integer/);
    },
    60_000,
  );

  it('names every adapter that would split between the workers, and exits 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aimesh-cluster-'));
    try {
      const aimesh = runAimesh(['start', '--workers', '2', '--port', '0'], {
        AIMESH_DATABASE__DATA_DIR: join(dir, 'pglite'),
        AIMESH_ARTIFACTS__DIR: join(dir, 'artifacts'),
      });
      expect(await aimesh.exited).toBe(2);
      const output = aimesh.output();
      expect(output).toMatch(/2 workers need state every worker shares/);
      expect(output).toMatch(/database\.adapter must be postgres/);
      expect(output).toMatch(/bus\.adapter must be nats/);
      expect(output).toMatch(/gateway\.rateLimit\.store must be redis/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

const services =
  (await serviceAvailable('postgres')) &&
  (await serviceAvailable('nats')) &&
  (await serviceAvailable('redis'));

describe.skipIf(!services)('aimesh start --workers 2 on PostgreSQL, NATS and Redis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'aimesh-cluster-'));
  const stream = testStream();
  let drop: () => Promise<void>;
  let url: string;
  beforeAll(async () => {
    const database = await createTestDatabase();
    drop = database.drop;
    url = database.url;
  });
  afterAll(async () => {
    await drop?.();
    await stream.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shares one port between two workers, answers from both, and stops them all on SIGTERM', async () => {
    const port = await freePort();
    const aimesh = runAimesh(
      ['start', '--target', 'gateway,registry', '--workers', '2', '--port', String(port)],
      {
        AIMESH_DATABASE_URL: url,
        AIMESH_NATS_URL: NATS_URL,
        AIMESH_REDIS_URL: REDIS_URL,
        AIMESH_GATEWAY__RATE_LIMIT__STORE: 'redis',
        AIMESH_GATEWAY__RATE_LIMIT__KEY_PREFIX: `aimesh-cluster-test-${port}:`,
        AIMESH_BUS__STREAM: stream.stream,
        AIMESH_BUS__SUBJECT_PREFIX: stream.subjectPrefix,
        AIMESH_ARTIFACTS__DIR: join(dir, 'artifacts'),
        AIMESH_GATEWAY__AUTH__ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      },
    );
    try {
      const seen = new Set<number>();
      const started = Date.now();
      // A fresh connection per call: the primary hands connections to the workers in turn.
      for (let i = 0; i < 400 && seen.size < 2 && Date.now() - started < 60_000; i++) {
        const agent = new Agent({ pipelining: 0 });
        const worker = await request(`http://127.0.0.1:${port}/healthz`, { dispatcher: agent }).then(
          async (r) => ((await r.body.json()) as { worker?: number }).worker,
          () => undefined,
        );
        await agent.close();
        if (worker !== undefined) seen.add(worker);
        else await new Promise((r) => setTimeout(r, 100));
      }
      expect([...seen].sort()).toEqual([1, 2]);
      // Both workers write to the one database: a model made through one is seen through the other.
      const created = await request(`http://127.0.0.1:${port}/api/v1/models`, {
        method: 'POST',
        headers: { ...adminHeaders(), 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'shared', type: 'sentiment' }),
      });
      expect(created.statusCode).toBe(201);
      await created.body.dump();
      for (let i = 0; i < 4; i++) {
        const agent = new Agent({ pipelining: 0 });
        const read = await request(`http://127.0.0.1:${port}/api/v1/models/shared`, {
          dispatcher: agent,
          headers: adminHeaders(),
        });
        expect(read.statusCode).toBe(200);
        await read.body.dump();
        await agent.close();
      }
    } finally {
      expect(await aimesh.stop()).toBe(0);
    }
  }, 120_000);

  it('gives every worker the one service token the primary made, so a call forwarded to another worker is accepted', async () => {
    const [port, inferencePort] = [await freePort(), await freePort()];
    expect(process.env.AIMESH_GATEWAY__AUTH__SERVICE_TOKEN).toBeUndefined();
    const aimesh = runAimesh(
      ['start', '--target', 'gateway,inference', '--workers', '2', '--port', String(port)],
      {
        AIMESH_DATABASE_URL: url,
        AIMESH_NATS_URL: NATS_URL,
        AIMESH_REDIS_URL: REDIS_URL,
        AIMESH_GATEWAY__RATE_LIMIT__STORE: 'redis',
        AIMESH_GATEWAY__RATE_LIMIT__KEY_PREFIX: `aimesh-cluster-token-test-${port}:`,
        AIMESH_BUS__STREAM: stream.stream,
        AIMESH_BUS__SUBJECT_PREFIX: stream.subjectPrefix,
        AIMESH_ARTIFACTS__DIR: join(dir, 'artifacts'),
        AIMESH_INFERENCE__SERVER__PORT: String(inferencePort),
        AIMESH_GATEWAY__AUTH__ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      },
    );
    try {
      const base = `http://127.0.0.1:${port}`;
      let ready = 0;
      for (let i = 0; i < 300 && ready !== 200; i++) {
        ready = await request(`${base}/readyz`).then(
          async (r) => {
            await r.body.dump();
            return r.statusCode;
          },
          () => 0,
        );
        if (ready !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      expect(ready, aimesh.output()).toBe(200);
      const key = await userHeaders(base, ['caller'], 'cluster-caller');
      // The gateway of one worker forwards with the service token; the primary hands each new
      // connection to the inference port to the next worker, so calls made side by side (each
      // gateway opening connections of its own) reach the other worker's listener too.
      const statuses: number[] = [];
      for (let round = 0; round < 4; round++) {
        const answers = await Promise.all(
          Array.from({ length: 8 }, async () => {
            const agent = new Agent({ pipelining: 0 });
            try {
              const r = await request(`${base}/v2/repository/index`, {
                method: 'POST',
                headers: key,
                dispatcher: agent,
              });
              await r.body.dump();
              return r.statusCode;
            } finally {
              await agent.close();
            }
          }),
        );
        statuses.push(...answers);
      }
      expect(statuses).toEqual(Array(32).fill(200));
    } finally {
      expect(await aimesh.stop()).toBe(0);
    }
  }, 180_000);
});
