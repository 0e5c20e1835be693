// Gateway overhead: a static upstream called directly, through a bare Node http + undici proxy,
// and through aimesh — its native path and its OpenAI-compatible front on PostgreSQL, each with
// and without the per-call event, and the embedded default as `npm start` runs it. Load comes
// from wrk (C, one thread): a Node load generator needs about a core of its own and on a 2-core
// machine became the ceiling it was meant to measure. Each server runs in its own process.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { report } from './report.js';
import { type BenchDatabase, createBenchDatabase } from './support/bench-database.js';
import {
  machineBusyMicros,
  machineQuiet,
  postgresMicros,
  postgresSpent,
  reapedChildrenMicros,
} from './support/machine-cpu.js';
import { type RoleProcess, startRole } from './support/role-process.js';
import { runWrk, type WrkRequest, type WrkResult, writeWrkScript, wrkVersion } from './support/wrk-load.js';

// aimesh is started through its CLI, as an operator would: the bench imports nothing of src/.
const AIMESH_CLI = fileURLToPath(new URL('../bin/aimesh.js', import.meta.url));
const THREADS = 1;
const CONNECTIONS = 32;
// Seconds of measured load per scenario per round, half in each half of the round.
const HALF_S = Math.max(1, Math.round(Number(process.env.BENCH_DURATION_S ?? 4) / 2));
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const WARMUP_FIRST_S = 2;
const WARMUP_S = 1;
const QUIET_MAX_MS = 3_000;
const ADMIN = 'bench-admin-token-0123456789';
const POSTGRES_SERVER = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
// BENCH_ONLY=<scenario>[,<scenario>] measures just those (ratios need bare-proxy too).
const ONLY = process.env.BENCH_ONLY?.split(',').filter(Boolean);
// BENCH_CPU_PROF=<role>[,<role>]: a CPU profile of each measured load only (no start-up, no
// warm-up), so its times divided by the requests served are each function's cost per call.
const PROFILED_ROLES = process.env.BENCH_CPU_PROF?.split(',').filter(Boolean) ?? [];
const PROFILES = fileURLToPath(new URL('./results/profiles/', import.meta.url));
// Below this the load generator, not the proxies, limits what is measured.
const GENERATOR_HEADROOM = 4;
/** Each aimesh scenario's least req/s as a share of the bare proxy's. */
const TARGETS: Record<string, number> = {
  'native-pg-events': 0.7,
  'openai-pg-events': 0.7,
  'native-pg-no-events': 0.9,
  'openai-pg-no-events': 0.9,
  'embedded-native': 0.5,
};

type RoleName = 'upstream' | 'bare' | 'aimesh-pg' | 'aimesh-pg-no-events' | 'aimesh-embedded';

const nativeBody = JSON.stringify({
  modelType: 'sentiment',
  inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['good'] }],
});
const chatBody = JSON.stringify({
  model: 'bench-chat',
  messages: [{ role: 'user', content: 'Is this good?' }],
});
const native = (key?: string): WrkRequest => ({
  method: 'POST',
  path: '/api/v1/ai/inference',
  headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) },
  body: nativeBody,
});
const openai = (key?: string): WrkRequest => ({
  method: 'POST',
  path: '/v1/chat/completions',
  headers: { 'content-type': 'application/json', 'x-api-key': key! },
  body: chatBody,
});

/**
 * The order of one round's first half; the second half runs it backwards, so every scenario's
 * two measurements are centred on the same moment and a machine that speeds up or slows down
 * during a round weighs on all of them alike.
 */
const SCENARIOS: { name: string; role: RoleName; request: (key?: string) => WrkRequest }[] = [
  { name: 'bare-proxy', role: 'bare', request: native },
  { name: 'native-pg-events', role: 'aimesh-pg', request: native },
  { name: 'openai-pg-events', role: 'aimesh-pg', request: openai },
  { name: 'native-pg-no-events', role: 'aimesh-pg-no-events', request: native },
  { name: 'openai-pg-no-events', role: 'aimesh-pg-no-events', request: openai },
  { name: 'embedded-native', role: 'aimesh-embedded', request: native },
  { name: 'direct', role: 'upstream', request: native },
];

/** The gateway section of every aimesh role: the whole chain, two models to choose from, an OpenAI model. */
function gatewayConfig(events: boolean, upstream: string) {
  const unlimited = { requestsPerSecond: 10_000_000, burst: 10_000_000 };
  // A service name of the bench's own: in the embedded default the inference module registers
  // itself as `model-inference`, and the calls must reach the static upstream alone.
  const model = (id: string, costPerCall: number, accuracy: number) => ({
    id,
    version: '1',
    type: 'sentiment',
    upstream: 'bench-upstream',
    costPerCall,
    accuracy,
  });
  return {
    auth: { adminToken: ADMIN },
    events,
    rateLimit: {
      rules: [
        { route: '/api/v1/ai/**', ...unlimited },
        { route: '/v1/**', ...unlimited },
      ],
    },
    models: { catalogue: [model('sentiment-small', 1, 0.9), model('sentiment-large', 3, 0.97)] },
    openai: {
      upstreams: [{ name: 'static', baseUrl: `${upstream}/v1` }],
      models: [{ id: 'bench-chat', upstream: 'static' }],
    },
  };
}

/** Registers the upstream in the role's discovery and makes an API key; returns the key. */
async function seed(origin: string, upstream: string): Promise<string> {
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${origin}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    if (!res.ok) throw new Error(`seeding ${origin}${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<{ key?: string }>;
  };
  await post('/api/v1/discovery/instances', { service: 'bench-upstream', url: upstream, ttlMs: 3_600_000 });
  const { key } = await post('/api/v1/admin/keys', { owner: 'bench' }, { authorization: `Bearer ${ADMIN}` });
  return key!;
}

/** One request as wrk will send it; the run stops here unless it answers 2xx. */
async function preflight(name: string, origin: string, request: WrkRequest): Promise<void> {
  const res = await fetch(`${origin}${request.path}`, {
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status < 200 || res.status > 299) throw new Error(`${name}: ${res.status} ${text}`);
}

interface Figures extends WrkResult {
  /** CPU time of the serving process per request (µs); for `direct`, of the upstream. */
  cpuMicrosPerRequest: number;
  /** The kernel's share of it (socket reads and writes). */
  systemMicrosPerRequest: number;
  /** CPU time of the whole machine per request: wrk, upstream, proxy, PostgreSQL, and neighbours. */
  machineMicrosPerRequest: number;
  /** PostgreSQL's CPU time per request (the per-call events). */
  postgresMicrosPerRequest: number;
  /** wrk's CPU time over the load's length: near 1, its one thread would be the limit. */
  generatorBusy: number;
}
const NUMBERS = [
  'rps',
  'requests',
  'p50',
  'p99',
  'cpuMicrosPerRequest',
  'systemMicrosPerRequest',
  'machineMicrosPerRequest',
  'postgresMicrosPerRequest',
  'generatorBusy',
] as const;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Several measurements of one scenario as one: means (requests and failures summed). */
function combine(all: Figures[], of: (values: number[]) => number): Figures {
  const out = {} as Figures;
  for (const key of NUMBERS) out[key] = Number(of(all.map((f) => f[key])).toFixed(2));
  out.requests = all.reduce((sum, f) => sum + f.requests, 0);
  out.errors = all.reduce((sum, f) => sum + f.errors, 0);
  out.non2xx = all.reduce((sum, f) => sum + f.non2xx, 0);
  return out;
}
const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;

async function main(): Promise<void> {
  const wrk = wrkVersion();
  if (!wrk) {
    console.error(
      'wrk is not installed. The gateway bench drives its load with wrk: apt-get install wrk (Debian/Ubuntu), then run it again.',
    );
    process.exit(1);
  }
  const known = SCENARIOS.map((s) => s.name);
  const unknown = ONLY?.filter((name) => !known.includes(name)) ?? [];
  if (unknown.length) {
    console.error(`BENCH_ONLY: unknown scenario ${unknown.join(', ')}; known: ${known.join(', ')}`);
    process.exit(2);
  }
  if (process.env.BENCH_RATE)
    console.error(
      'BENCH_RATE is ignored: wrk offers a closed-loop load only (compare CPU per request instead).',
    );
  const wanted = SCENARIOS.filter((s) => !ONLY || ONLY.includes(s.name));
  const needed = new Set<RoleName>(['upstream', ...wanted.map((s) => s.role)]);

  const dir = mkdtempSync(join(tmpdir(), 'aimesh-bench-gateway-'));
  const roles = new Map<RoleName, RoleProcess>();
  const databases: BenchDatabase[] = [];
  let cleaned: Promise<void> | undefined;
  const cleanUp = () => {
    cleaned ??= (async () => {
      await Promise.all([...roles.values()].map((r) => r.stop()));
      await Promise.all(databases.map((d) => d.drop().catch((e) => console.error(`drop: ${e.message}`))));
      rmSync(dir, { recursive: true, force: true });
    })();
    return cleaned;
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => void cleanUp().finally(() => process.exit(130)));

  const profileDir = (name: RoleName) => {
    if (!PROFILED_ROLES.includes(name)) return undefined;
    // This run's profiles only: an earlier run's would be summed with them.
    rmSync(join(PROFILES, name), { recursive: true, force: true });
    return join(PROFILES, name);
  };
  const script = (name: string) => fileURLToPath(new URL(`./support/${name}`, import.meta.url));
  const aimesh = async (name: RoleName, config: Record<string, unknown>, args: string[]) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, JSON.stringify(config)); // JSON is YAML
    const started = await startRole({
      name,
      script: AIMESH_CLI,
      args: ['start', '--config', file, ...args],
      tsx: false,
      ready: 'aimesh',
      profileDir: profileDir(name),
    });
    roles.set(name, started);
    return started;
  };

  try {
    const upstream = await startRole({
      name: 'upstream',
      script: script('static-upstream.ts'),
      args: [],
      tsx: true,
      ready: 'ipc',
      profileDir: profileDir('upstream'),
    });
    roles.set('upstream', upstream);
    if (needed.has('bare'))
      roles.set(
        'bare',
        await startRole({
          name: 'bare',
          script: script('bare-proxy.ts'),
          args: [upstream.origin],
          tsx: true,
          ready: 'ipc',
          profileDir: profileDir('bare'),
        }),
      );
    const keys = new Map<RoleName, string>();
    for (const [name, events] of [
      ['aimesh-pg', true],
      ['aimesh-pg-no-events', false],
    ] as const) {
      if (!needed.has(name)) continue;
      let database: BenchDatabase;
      try {
        database = await createBenchDatabase(POSTGRES_SERVER);
      } catch (error) {
        throw new Error(
          `PostgreSQL at ${POSTGRES_SERVER} cannot be used (${(error as Error).message}); the *-pg scenarios need it (bash scripts/services.sh starts it; BENCH_POSTGRES_URL names another loopback server)`,
        );
      }
      databases.push(database);
      // `--target gateway` as deployed: against a PostgreSQL server, so event appends are I/O
      // rather than WASM work on the gateway's own thread.
      const role = await aimesh(
        name,
        {
          server: { port: 0 },
          database: { adapter: 'postgres', url: database.url },
          artifacts: { dir: join(dir, name, 'artifacts') },
          log: { level: 'warn' },
          gateway: gatewayConfig(events, upstream.origin),
        },
        ['--target', 'gateway'],
      );
      keys.set(name, await seed(role.origin, upstream.origin));
    }
    if (needed.has('aimesh-embedded')) {
      // `npm start` (every module, PGlite on disk, the in-process bus, events on); only a free port,
      // a data directory of its own and the gateway's models differ from no config at all.
      const role = await aimesh(
        'aimesh-embedded',
        {
          server: { port: 0 },
          database: { dataDir: join(dir, 'embedded', 'pglite') },
          artifacts: { dir: join(dir, 'embedded', 'artifacts') },
          gateway: gatewayConfig(true, upstream.origin),
        },
        [],
      );
      keys.set('aimesh-embedded', await seed(role.origin, upstream.origin));
    }

    const runs = wanted.map((s) => {
      const request = s.request(keys.get(s.role));
      return {
        ...s,
        proc: roles.get(s.role)!,
        request,
        script: writeWrkScript(join(dir, `${s.name}.lua`), request),
      };
    });
    for (const run of runs) await preflight(run.name, run.proc.origin, run.request);
    console.log(
      `${wrk}: ${THREADS} thread, ${CONNECTIONS} connections; ${ROUNDS} rounds of ${2 * HALF_S} s per scenario (${HALF_S} s each way)`,
    );

    const measure = async (run: (typeof runs)[number], round: number, label: string): Promise<Figures> => {
      const options = { threads: THREADS, connections: CONNECTIONS };
      await machineQuiet(QUIET_MAX_MS);
      await runWrk(run.proc.origin, run.script, {
        ...options,
        seconds: round === 0 && label === 'a' ? WARMUP_FIRST_S : WARMUP_S,
      });
      const cpuBefore = await run.proc.cpu();
      const machineBefore = machineBusyMicros();
      const postgresBefore = postgresMicros();
      const generatorBefore = reapedChildrenMicros();
      if (run.proc.profiled) run.proc.startProfile();
      const r = await runWrk(run.proc.origin, run.script, { ...options, seconds: HALF_S });
      const generator = reapedChildrenMicros() - generatorBefore;
      if (run.proc.profiled) await run.proc.stopProfile(`${run.name}-${round + 1}${label}`, r.requests);
      const cpuAfter = await run.proc.cpu();
      const machine = machineBusyMicros() - machineBefore;
      const postgres = postgresSpent(postgresBefore, postgresMicros());
      const requests = Math.max(1, r.requests);
      const system = cpuAfter.system - cpuBefore.system;
      const f: Figures = {
        ...r,
        cpuMicrosPerRequest: Math.round((cpuAfter.user - cpuBefore.user + system) / requests),
        systemMicrosPerRequest: Math.round(system / requests),
        machineMicrosPerRequest: Math.round(machine / requests),
        postgresMicrosPerRequest: Math.round(postgres / requests),
        generatorBusy: Number((generator / (HALF_S * 1e6)).toFixed(2)),
      };
      console.log(
        `round ${round + 1}${label}/${ROUNDS} ${run.name.padEnd(20)} ${String(f.rps).padStart(7)} req/s  p50 ${f.p50} ms  p99 ${f.p99} ms  cpu ${f.cpuMicrosPerRequest} µs/req (kernel ${f.systemMicrosPerRequest}; machine ${f.machineMicrosPerRequest}, postgres ${f.postgresMicrosPerRequest}; wrk busy ${Math.round(100 * f.generatorBusy)} %)  errors ${f.errors}  non-2xx ${f.non2xx}`,
      );
      return f;
    };

    const rounds: Record<string, Figures>[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const first: Record<string, Figures> = {};
      for (const run of runs) first[run.name] = await measure(run, round, 'a');
      const figures: Record<string, Figures> = {};
      for (const run of [...runs].reverse())
        figures[run.name] = combine([first[run.name], await measure(run, round, 'b')], mean);
      rounds.push(figures);
    }
    summarise(rounds, wrk);
  } finally {
    await cleanUp();
  }
}

/** Medians over rounds, each ratio from its own round, the plain verdict and the final JSON line. */
function summarise(rounds: Record<string, Figures>[], wrk: string): void {
  const names = SCENARIOS.map((s) => s.name).filter((name) => rounds[0][name]);
  const scenarios = Object.fromEntries(
    names.map((name) => [
      name,
      combine(
        rounds.map((r) => r[name]),
        median,
      ),
    ]),
  );
  // Failures are summed over rounds by combine: one in any round counts.
  const perRound = (a: string, key: 'rps' | 'cpuMicrosPerRequest' = 'rps') =>
    scenarios[a] && scenarios['bare-proxy']
      ? rounds.map((r) => Number((r[a][key] / r['bare-proxy'][key]).toFixed(3)))
      : null;
  const ratio = (a: string, key: 'rps' | 'cpuMicrosPerRequest' = 'rps') => {
    const values = perRound(a, key);
    return values ? Number(median(values).toFixed(3)) : null;
  };
  const headroom = ratio('direct');
  const ratiosToBare = Object.fromEntries(Object.keys(TARGETS).map((name) => [name, ratio(name)]));
  const roundRatiosToBare = Object.fromEntries(
    ['direct', ...Object.keys(TARGETS)].map((name) => [name, perRound(name)]),
  );
  const cpuPerRequestToBare = Object.fromEntries(
    Object.keys(TARGETS).map((name) => [name, ratio(name, 'cpuMicrosPerRequest')]),
  );

  console.log(
    '\nmedians over rounds (req/s, ratio to the bare proxy, CPU µs per request: server / machine / PostgreSQL):',
  );
  for (const name of names) {
    const s = scenarios[name];
    const r = name === 'bare-proxy' ? '' : ` ${String(ratio(name)).padStart(6)}x`;
    console.log(
      `  ${name.padEnd(20)} ${String(s.rps).padStart(7)}${r.padEnd(8)}  ${s.cpuMicrosPerRequest} / ${s.machineMicrosPerRequest} / ${s.postgresMicrosPerRequest} µs`,
    );
  }
  const generatorOk = headroom !== null && headroom >= GENERATOR_HEADROOM;
  console.log(
    headroom === null
      ? 'generator ceiling not checked (needs direct and bare-proxy): the run cannot meet its target.'
      : generatorOk
        ? `generator ceiling: the direct call reached ${headroom}x the bare proxy (>= ${GENERATOR_HEADROOM}x needed), wrk busy ${Math.round(100 * scenarios.direct.generatorBusy)} % of its thread meanwhile: wrk is not the limit.`
        : `GENERATOR CEILING NOT MET: the direct call reached only ${headroom}x the bare proxy (>= ${GENERATOR_HEADROOM}x needed), so the load generator, not the proxies, limits this run and its ratios say little.`,
  );
  const missed: string[] = [];
  for (const [name, target] of Object.entries(TARGETS)) {
    const value = ratiosToBare[name];
    if (value === null) missed.push(`${name} not measured`);
    else if (value < target) missed.push(`${name} ${value} < ${target}`);
  }
  for (const name of names)
    if (scenarios[name].errors || scenarios[name].non2xx)
      missed.push(
        `${name} had ${scenarios[name].errors} errors and ${scenarios[name].non2xx} non-2xx answers`,
      );
  console.log(missed.length ? `targets missed: ${missed.join('; ')}` : 'every target met.');

  report(
    'gateway',
    {
      generator: wrk,
      threads: THREADS,
      connections: CONNECTIONS,
      secondsPerScenarioPerRound: 2 * HALF_S,
      rounds: rounds.length,
      generatorHeadroom: headroom,
      ratiosToBare,
      roundRatiosToBare,
      cpuPerRequestToBare,
      scenarios,
    },
    `the direct call >= ${GENERATOR_HEADROOM}x the bare proxy's req/s (wrk is not the limit); aimesh req/s against the bare Node http + undici proxy at ${CONNECTIONS} connections, median of paired rounds: native and OpenAI fronts on PostgreSQL >= 0.7 with the per-call event and >= 0.9 without it, the embedded default (PGlite, in-process bus, events on) >= 0.5; no errors or non-2xx answers`,
    generatorOk && missed.length === 0,
  );
}

await main();
