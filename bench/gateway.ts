// Gateway overhead: a static upstream called directly, through a bare Node http + undici proxy,
// through the same minimal proxy on Fastify, and through the aimesh gateway with the full chain
// (key auth, rate limit, routing, model selection, balancing, breaker, retry policy, event per
// call). Each server runs in its own process so the load generator does not share a thread with
// what it measures.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { fileURLToPath } from 'node:url';
// @ts-expect-error autocannon ships no types
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { report } from './report.js';

const CONNECTIONS = 32;
// Seconds per scenario per round.
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 4);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 5));
const WARMUP_S = 2;
const ADMIN = 'bench-admin-token-0123456789';
const RATE = Number(process.env.BENCH_RATE ?? 0);
// BENCH_ONLY=<scenario>[,<scenario>] measures just those (the ratios need bare-proxy and aimesh).
const ONLY = process.env.BENCH_ONLY?.split(',');
// BENCH_CPU_PROF=<role>[,<role>]: a CPU profile of the measured load only (no start-up, no
// warm-up), so its times divided by the requests served are each function's cost per call.
const PROFILED_ROLES = process.env.BENCH_CPU_PROF?.split(',') ?? [];

const role = process.argv.find((a) => a.startsWith('--role='))?.slice(7);
// CPU time a server spends per request does not depend on what else the machine runs, so it is
// reported next to req/s (which does, on a shared machine).
if (role && role !== 'aimesh-workers')
  process.on('message', (m) => m === 'cpu' && process.send?.({ cpu: process.cpuUsage() }));
if (role && !role.startsWith('aimesh')) process.on('SIGTERM', () => process.exit(0));
if (role && role !== 'aimesh-workers' && PROFILED_ROLES.includes(role)) await profileOnRequest(role);

async function profileOnRequest(name: string): Promise<void> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  // 100 µs between samples: ~10 per proxied call even on a fast spell.
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  // This run's profiles only: an earlier run's rounds would be summed with them.
  const dir = join('bench/results/profiles', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let loads = 0;
  process.on('message', async (m: { profile?: 'start' | 'stop'; requests?: number }) => {
    if (m.profile === 'start') await session.post('Profiler.start');
    if (m.profile !== 'stop') return;
    const { profile } = await session.post('Profiler.stop');
    const file = join(dir, `load-${++loads}`);
    writeFileSync(`${file}.cpuprofile`, JSON.stringify(profile));
    writeFileSync(`${file}.json`, JSON.stringify({ requests: m.requests }));
    process.send?.({ profiled: true });
  });
}
const listen = (server: ReturnType<typeof createServer>) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );

async function upstreamRole(): Promise<void> {
  const body = JSON.stringify({ outputs: [{ name: 'label', data: ['positive'] }] });
  const port = await listen(
    createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    }),
  );
  process.send?.({ port });
}

async function bareRole(upstream: string): Promise<void> {
  const pool = new Pool(upstream, { connections: 128 });
  const port = await listen(
    createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', async () => {
        try {
          const { connection: _c, host: _h, ...headers } = req.headers;
          const up = await pool.request({
            method: req.method as 'POST',
            path: req.url ?? '/',
            headers: headers as Record<string, string>,
            body: chunks.length ? Buffer.concat(chunks) : null,
          });
          const out: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(up.headers))
            if (v !== undefined && k !== 'connection' && k !== 'keep-alive') out[k] = v;
          res.writeHead(up.statusCode, out);
          pipeline(up.body, res, () => {});
        } catch {
          res.writeHead(502).end();
        }
      });
    }),
  );
  process.send?.({ port });
}

// The same minimal proxy on Fastify (the framework aimesh's HTTP server uses): what the framework
// costs, apart from the gateway's chain.
async function fastifyRole(upstream: string): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const pool = new Pool(upstream, { connections: 128 });
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.post('/api/v1/ai/*', async (request, reply) => {
    const { connection: _c, host: _h, ...headers } = request.headers;
    const up = await pool.request({
      method: 'POST',
      path: request.url,
      headers: headers as Record<string, string>,
      body: request.body as Buffer,
    });
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(up.headers))
      if (v !== undefined && k !== 'connection' && k !== 'keep-alive') out[k] = v;
    reply.hijack();
    reply.raw.writeHead(up.statusCode, out);
    up.body.pipe(reply.raw);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  process.send?.({ port: (app.server.address() as AddressInfo).port });
}

/** The gateway section every aimesh role runs: the whole chain, two models to choose from. */
function gatewayConfig(events: boolean, rateLimitStore = 'memory') {
  return {
    auth: { adminToken: ADMIN },
    events,
    rateLimit: {
      store: rateLimitStore,
      keyPrefix: `aimesh-bench-${process.pid}:`,
      rules: [{ route: '/api/v1/ai/**', requestsPerSecond: 10_000_000, burst: 10_000_000 }],
    },
    models: {
      catalogue: [
        {
          id: 'sentiment-small',
          version: '1',
          type: 'sentiment',
          upstream: 'model-inference',
          costPerCall: 1,
          accuracy: 0.9,
        },
        {
          id: 'sentiment-large',
          version: '1',
          type: 'sentiment',
          upstream: 'model-inference',
          costPerCall: 3,
          accuracy: 0.97,
        },
      ],
    },
  };
}

/** Registers the upstream in discovery and makes an API key; returns the key. */
async function seed(base: string, upstream: string): Promise<string> {
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    }).then((r) => r.json());
  await post('/api/v1/discovery/instances', { service: 'model-inference', url: upstream, ttlMs: 600_000 });
  const { key } = await post('/api/v1/admin/keys', { owner: 'bench' }, { authorization: `Bearer ${ADMIN}` });
  return key;
}

/** CPU time (user, system) of a process and its children, from /proc (clock ticks of 10 ms). */
function treeCpu(pid: number): NodeJS.CpuUsage {
  const pids = [pid];
  try {
    for (const line of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/))
      if (line) pids.push(Number(line));
  } catch {}
  let user = 0;
  let system = 0;
  for (const p of pids) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
      user += Number(fields[11]) * 10_000;
      system += Number(fields[12]) * 10_000;
    } catch {}
  }
  return { user, system };
}

// `aimesh start --target gateway --workers N` as deployed on several cores: PostgreSQL, NATS and
// the Redis rate-limit store shared by the workers (what --workers requires).
async function workersRole(upstream: string, workers: number): Promise<void> {
  const { createTestDatabase, NATS_URL, REDIS_URL } = await import('../test/support/services.js');
  const { testStream } = await import('../test/support/nats.js');
  const created = await createTestDatabase();
  const stream = testStream();
  const dir = mkdtempSync(join(tmpdir(), 'aimesh-bench-workers-'));
  const configFile = join(dir, 'aimesh.yaml');
  // JSON is YAML.
  writeFileSync(
    configFile,
    JSON.stringify({
      server: { port: 0 },
      database: { adapter: 'postgres', url: created.url },
      bus: { adapter: 'nats', servers: NATS_URL, stream: stream.stream, subjectPrefix: stream.subjectPrefix },
      redis: { url: REDIS_URL },
      artifacts: { dir: join(dir, 'artifacts') },
      log: { level: 'warn' },
      gateway: gatewayConfig(true, 'redis'),
    }),
  );
  const bin = fileURLToPath(new URL('../bin/aimesh.js', import.meta.url));
  const cli = spawn(
    process.execPath,
    [bin, 'start', '--target', 'gateway', '--workers', String(workers), '--config', configFile],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    cli.stderr!.on('data', (d) => {
      output += d;
      const found = /aimesh listening on (http:\/\/\S+)/.exec(output);
      if (found) resolve(found[1]);
    });
    cli.once('exit', (code) => reject(new Error(`aimesh --workers exited with ${code}: ${output}`)));
  });
  const key = await seed(url, upstream);
  process.on('message', (m) => m === 'cpu' && process.send?.({ cpu: treeCpu(cli.pid!) }));
  process.send?.({ port: Number(new URL(url).port), key });
  process.on('SIGTERM', () => {
    cli.kill('SIGTERM');
    cli.once('exit', () => {
      void Promise.all([created.drop(), stream.drop()]).finally(() => {
        rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
    });
  });
}

async function aimeshRole(upstream: string, events: boolean): Promise<void> {
  const { startTestAimesh } = await import('../test/support/aimesh.js');
  // The gateway target as it is deployed: against a PostgreSQL server, so event appends are I/O
  // rather than WASM work on the gateway's own thread. BENCH_DATABASE=pglite measures embedded mode.
  let database: Record<string, unknown> = {};
  let drop = async () => {};
  if (process.env.BENCH_DATABASE !== 'pglite') {
    const { createTestDatabase } = await import('../test/support/services.js');
    const created = await createTestDatabase();
    database = { adapter: 'postgres', url: created.url };
    drop = created.drop;
  }
  const aimesh = await startTestAimesh({
    targets: ['gateway'],
    config: { database, gateway: gatewayConfig(events) },
  });
  const key = await seed(aimesh.url, upstream);
  process.send?.({ port: aimesh.port, key });
  process.on('SIGTERM', () => {
    void aimesh
      .stop()
      .then(drop)
      .then(() => process.exit(0));
  });
}

/** Busy CPU time of the whole machine so far (all cores), from /proc/stat (ticks of 10 ms). */
function machineBusyMicros(): number {
  return machineTicks().busy * 10_000;
}

/** Busy and total CPU time of the machine so far (ticks): busy is all but idle and iowait. */
function machineTicks(): { busy: number; total: number } {
  // user nice system idle iowait irq softirq steal
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((sum, v) => sum + v, 0);
  return { busy: total - fields[3] - fields[4], total };
}

/**
 * Waits (at most 20 s) until the machine has been nearly idle for half a second: the work a
 * scenario leaves behind (PostgreSQL vacuuming and checkpointing the events just written) must
 * not be billed to the next one.
 */
async function machineQuiet(): Promise<void> {
  const deadline = Date.now() + 20_000;
  let calm = 0;
  let last = machineTicks();
  while (Date.now() < deadline && calm < 2) {
    await new Promise((r) => setTimeout(r, 250));
    const now = machineTicks();
    const share = (now.busy - last.busy) / Math.max(1, now.total - last.total);
    calm = share < 0.15 ? calm + 1 : 0;
    last = now;
  }
}

/** CPU time so far of each PostgreSQL server process on this machine, by pid (none when none runs here). */
function postgresMicros(): Map<string, number> {
  const byPid = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.split(') ')[1].split(' ');
      byPid.set(entry, (Number(fields[11]) + Number(fields[12])) * 10_000);
    } catch {}
  }
  return byPid;
}

/** What the PostgreSQL processes alive at both times spent between them (a backend that ended is left out). */
function postgresSpent(before: Map<string, number>, after: Map<string, number>): number {
  let spent = 0;
  for (const [pid, micros] of after) spent += micros - (before.get(pid) ?? micros);
  return spent;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Stops a role's profiler and waits until its profile is written. */
function profileWritten(proc: ChildProcess, requests: number): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (m: { profiled?: boolean }) => {
      if (!m.profiled) return;
      proc.off('message', onMessage);
      resolve();
    };
    proc.on('message', onMessage);
    proc.send({ profile: 'stop', requests });
  });
}

/** Two measurements of one scenario as one: their mean (failures summed). */
function meanOf(a: Figures, b: Figures): Figures {
  const mean = (x: number | undefined, y: number | undefined) => Math.round(((x ?? 0) + (y ?? 0)) / 2);
  return {
    rps: mean(a.rps, b.rps),
    requests: a.requests + b.requests,
    cpuMicrosPerRequest: mean(a.cpuMicrosPerRequest, b.cpuMicrosPerRequest),
    systemMicrosPerRequest: mean(a.systemMicrosPerRequest, b.systemMicrosPerRequest),
    machineMicrosPerRequest: mean(a.machineMicrosPerRequest, b.machineMicrosPerRequest),
    postgresMicrosPerRequest: mean(a.postgresMicrosPerRequest, b.postgresMicrosPerRequest),
    p50: mean(a.p50, b.p50),
    p99: mean(a.p99, b.p99),
    errors: a.errors + b.errors,
    non2xx: a.non2xx + b.non2xx,
  };
}

function cpuMicros(proc: ChildProcess): Promise<NodeJS.CpuUsage> {
  return new Promise((resolve) => {
    const onMessage = (m: { cpu?: NodeJS.CpuUsage }) => {
      if (!m.cpu) return;
      proc.off('message', onMessage);
      resolve(m.cpu);
    };
    proc.on('message', onMessage);
    proc.send('cpu');
  });
}

function child(
  name: string,
  args: string[],
): Promise<{ proc: ChildProcess; message: { port: number; key?: string } }> {
  // BENCH_NODE_ARGS: flags for the measured processes (--trace-gc, --perf-basic-prof, ...).
  const flags = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const proc = spawn(
    process.execPath,
    [...flags, '--import', 'tsx', fileURLToPath(import.meta.url), `--role=${name}`, ...args],
    {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  return new Promise((resolve, reject) => {
    proc.once('message', (message) => resolve({ proc, message: message as { port: number; key?: string } }));
    proc.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
}

interface Figures {
  rps: number;
  requests: number;
  /** CPU time of the proxy process per request (µs); for `direct`, of the upstream. */
  cpuMicrosPerRequest?: number;
  /** The kernel's share of it (socket reads and writes). */
  systemMicrosPerRequest?: number;
  /**
   * CPU time of the whole machine per request (every process: load generator, upstream, proxy,
   * PostgreSQL): what a two-core machine running all of them has to share out.
   */
  machineMicrosPerRequest?: number;
  /** PostgreSQL's CPU time per request (the gateway's per-call events), when it runs here. */
  postgresMicrosPerRequest?: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function load(url: string, headers: Record<string, string>, seconds: number): Promise<Figures> {
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    // BENCH_RATE=<req/s> offers a fixed load instead of saturating: CPU per request then
    // compares roles without the noise of a machine at its limit.
    ...(RATE ? { overallRate: RATE } : {}),
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['good'] }] }),
  });
  return {
    rps: Math.round(result.requests.average),
    requests: result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

async function main(): Promise<void> {
  const upstream = await child('upstream', []);
  const upstreamUrl = `http://127.0.0.1:${upstream.message.port}`;
  const bare = await child('bare', [upstreamUrl]);
  const fastify = await child('fastify', [upstreamUrl]);
  const gateway = await child('aimesh', [upstreamUrl]);
  // The same chain without the per-call event, to show what the event costs.
  const quiet = await child('aimesh-no-events', [upstreamUrl]);
  const roles: [string, ChildProcess][] = [
    ['upstream', upstream.proc],
    ['bare', bare.proc],
    ['fastify', fastify.proc],
    ['aimesh', gateway.proc],
    ['aimesh-no-events', quiet.proc],
  ];
  const children = roles.map(([, proc]) => proc);
  const profiled = new Set(roles.filter(([name]) => PROFILED_ROLES.includes(name)).map(([, proc]) => proc));
  // `--workers N` (one gateway per core) when its shared services answer.
  const { serviceAvailable } = await import('../test/support/services.js');
  const workers = Number(process.env.BENCH_WORKERS ?? availableParallelism());
  const clustered =
    workers > 1 &&
    (await serviceAvailable('postgres')) &&
    (await serviceAvailable('nats')) &&
    (await serviceAvailable('redis'))
      ? await child('aimesh-workers', [upstreamUrl, String(workers)])
      : undefined;
  if (clustered) children.push(clustered.proc);
  try {
    const path = '/api/v1/ai/models/sentiment/infer';
    // The target's pair first and back to back: this shared machine has slower and faster
    // spells of tens of seconds, and a ratio is only fair between neighbouring measurements.
    const scenarios: [string, string, Record<string, string>, ChildProcess][] = [
      ['bare-proxy', `http://127.0.0.1:${bare.message.port}${path}`, {}, bare.proc],
      [
        'aimesh',
        `http://127.0.0.1:${gateway.message.port}${path}`,
        { 'x-api-key': gateway.message.key!, 'x-model-type': 'sentiment' },
        gateway.proc,
      ],
      ['direct', `${upstreamUrl}${path}`, {}, upstream.proc],
      ['fastify-proxy', `http://127.0.0.1:${fastify.message.port}${path}`, {}, fastify.proc],
      [
        'aimesh-no-events',
        `http://127.0.0.1:${quiet.message.port}${path}`,
        { 'x-api-key': quiet.message.key!, 'x-model-type': 'sentiment' },
        quiet.proc,
      ],
    ];
    if (clustered)
      scenarios.push([
        `aimesh-workers-${workers}`,
        `http://127.0.0.1:${clustered.message.port}${path}`,
        { 'x-api-key': clustered.message.key!, 'x-model-type': 'sentiment' },
        clustered.proc,
      ]);
    // Rounds: every scenario once per round, in turn, so a machine that is busier for a while
    // (other tenants, a noisy neighbour) slows all of them alike; ratios are taken per round and
    // their median reported, with the median figures of each scenario. The target's pair is
    // measured again at the end of each round in the opposite order (bare, aimesh, ..., aimesh,
    // bare): a machine that speeds up or slows down during a round then weighs on both alike.
    const measure = async (
      round: number,
      name: string,
      url: string,
      headers: Record<string, string>,
      proc: ChildProcess,
    ) => {
      await machineQuiet();
      await load(url, headers, round === 0 ? WARMUP_S : 1);
      const cpuBefore = await cpuMicros(proc);
      const machineBefore = machineBusyMicros();
      const postgresBefore = postgresMicros();
      if (profiled.has(proc)) proc.send({ profile: 'start' });
      const f = await load(url, headers, DURATION_S);
      if (profiled.has(proc)) await profileWritten(proc, f.requests);
      const cpuAfter = await cpuMicros(proc);
      const machine = machineBusyMicros() - machineBefore;
      const postgres = postgresSpent(postgresBefore, postgresMicros());
      const requests = Math.max(1, f.requests);
      const system = cpuAfter.system - cpuBefore.system;
      f.cpuMicrosPerRequest = Math.round((cpuAfter.user - cpuBefore.user + system) / requests);
      f.systemMicrosPerRequest = Math.round(system / requests);
      f.machineMicrosPerRequest = Math.round(machine / requests);
      f.postgresMicrosPerRequest = Math.round(postgres / requests);
      console.log(
        `round ${round + 1}/${ROUNDS} ${name.padEnd(18)} ${String(f.rps).padStart(7)} req/s  p50 ${f.p50} ms  p99 ${f.p99} ms  cpu ${f.cpuMicrosPerRequest} µs/req (kernel ${f.systemMicrosPerRequest}; machine ${f.machineMicrosPerRequest}, postgres ${f.postgresMicrosPerRequest})  errors ${f.errors}  non-2xx ${f.non2xx}`,
      );
      return f;
    };
    const pair = new Set(['bare-proxy', 'aimesh']);
    const rounds: Record<string, Figures>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const figures: Record<string, Figures> = {};
      const wanted = scenarios.filter(([name]) => !ONLY || ONLY.includes(name));
      for (const [name, url, headers, proc] of wanted)
        figures[name] = await measure(round, name, url, headers, proc);
      for (const [name, url, headers, proc] of wanted.filter(([n]) => pair.has(n)).reverse())
        figures[name] = meanOf(figures[name], await measure(round, name, url, headers, proc));
      rounds.push(figures);
    }
    const figures: Record<string, Figures> = {};
    for (const name of Object.keys(rounds[0])) {
      const of = (key: keyof Figures) => median(rounds.map((r) => r[name][key] ?? 0));
      figures[name] = {
        rps: of('rps'),
        requests: of('requests'),
        cpuMicrosPerRequest: of('cpuMicrosPerRequest'),
        systemMicrosPerRequest: of('systemMicrosPerRequest'),
        machineMicrosPerRequest: of('machineMicrosPerRequest'),
        postgresMicrosPerRequest: of('postgresMicrosPerRequest'),
        p50: of('p50'),
        p99: of('p99'),
        // Failures are summed, not medianed: one in any round counts.
        errors: rounds.reduce((sum, r) => sum + r[name].errors, 0),
        non2xx: rounds.reduce((sum, r) => sum + r[name].non2xx, 0),
      };
    }
    // The median over rounds of one scenario's figure over another's (null when BENCH_ONLY left one out).
    const ratioOf = (a: string, b: string, key: 'rps' | 'cpuMicrosPerRequest' = 'rps') =>
      figures[a] && figures[b] ? Number(median(rounds.map((r) => r[a][key]! / r[b][key]!)).toFixed(3)) : null;
    const ratio = ratioOf('aimesh', 'bare-proxy');
    const summary = {
      connections: CONNECTIONS,
      durationSeconds: DURATION_S,
      rounds: ROUNDS,
      ...(RATE ? { offeredRate: RATE } : {}),
      ...figures,
      bareVsDirect: ratioOf('bare-proxy', 'direct'),
      aimeshVsBare: ratio,
      aimeshVsFastifyProxy: ratioOf('aimesh', 'fastify-proxy'),
      ...(clustered ? { aimeshWorkersVsBare: ratioOf(`aimesh-workers-${workers}`, 'bare-proxy') } : {}),
      aimeshCpuVsBare: ratioOf('bare-proxy', 'aimesh', 'cpuMicrosPerRequest'),
    };
    console.log(`aimesh / bare proxy throughput: ${ratio ?? 'not measured'}`);
    report(
      'gateway',
      summary,
      'aimesh >= 0.85x the bare Node http + undici proxy req/s at 32 connections',
      // Only a saturating run of both measures the target.
      !RATE && ratio !== null && ratio >= 0.85 && figures.aimesh.non2xx === 0,
    );
  } finally {
    for (const proc of children) proc.kill('SIGTERM');
  }
}

if (role === 'upstream') await upstreamRole();
else if (role === 'bare') await bareRole(process.argv.at(-1)!);
else if (role === 'fastify') await fastifyRole(process.argv.at(-1)!);
else if (role === 'aimesh-workers') await workersRole(process.argv.at(-2)!, Number(process.argv.at(-1)));
else if (role === 'aimesh') await aimeshRole(process.argv.at(-1)!, true);
else if (role === 'aimesh-no-events') await aimeshRole(process.argv.at(-1)!, false);
else await main();
