import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { reachable, servicesRequired } from './services.js';

/**
 * A service instance a fault test starts for itself on a free loopback port, so it can stop and
 * restart it without touching the machine's shared services.
 */
export interface OwnService {
  readonly url: string;
  readonly port: number;
  /** Stops the server (a crash for Redis and NATS: SIGKILL; PostgreSQL: immediate shutdown). */
  stop(): Promise<void>;
  /** Starts it again on the same port, with the data it kept. */
  start(): Promise<void>;
  /** Stops it for good and removes its files. */
  destroy(): Promise<void>;
}

const POSTGRES_BIN = existsSync('/usr/lib/postgresql')
  ? readdirSync('/usr/lib/postgresql')
      .map((v) => join('/usr/lib/postgresql', v, 'bin'))
      .find((dir) => existsSync(join(dir, 'initdb')))
  : undefined;

const which = (name: string, dirs: string[]) =>
  dirs.map((d) => join(d, name)).find((path) => existsSync(path));
const REDIS = which('redis-server', ['/usr/bin', '/usr/local/bin', '/usr/sbin']);
const NATS = which('nats-server', ['/usr/sbin', '/usr/bin', '/usr/local/bin']);

/** Whether this machine has the server binary; without it the suite skips (or fails when required). */
export function canRun(service: 'postgres' | 'redis' | 'nats'): boolean {
  const found = service === 'postgres' ? POSTGRES_BIN : service === 'redis' ? REDIS : NATS;
  if (found) return true;
  const missing = `no ${service} server binary on this machine`;
  if (servicesRequired)
    throw new Error(`${missing}, and AIMESH_REQUIRE_SERVICES=1 requires it: its fault tests cannot run`);
  console.warn(`SKIP: ${missing}; its fault tests are skipped`);
  return false;
}

async function waitReachable(port: number, up: boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if ((await reachable('127.0.0.1', port, 300)) === up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} did not become ${up ? 'reachable' : 'free'} within ${timeoutMs} ms`);
}

const asRoot = process.getuid?.() === 0;

/** A PostgreSQL cluster of its own (trust auth, database `test`). */
export async function startOwnPostgres(): Promise<OwnService> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'aimesh-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  // PostgreSQL refuses to run as root; the machine's postgres user runs it then.
  const run = (bin: string, args: string[]) =>
    execFileSync(
      asRoot ? 'runuser' : join(POSTGRES_BIN!, bin),
      asRoot ? ['-u', 'postgres', '--', join(POSTGRES_BIN!, bin), ...args] : args,
      {
        stdio: 'pipe',
        timeout: 60_000,
      },
    );
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const ctl = (action: 'start' | 'stop') =>
    run(
      'pg_ctl',
      action === 'start'
        ? [
            '-D',
            data,
            '-w',
            '-l',
            join(dir, 'log'),
            '-o',
            `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
            'start',
          ]
        : ['-D', data, '-w', '-m', 'immediate', 'stop'],
    );
  ctl('start');
  run('createdb', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'test']);
  let running = true;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/test`,
    port,
    async stop() {
      if (!running) return;
      ctl('stop');
      running = false;
      await waitReachable(port, false);
    },
    async start() {
      if (running) return;
      ctl('start');
      running = true;
      await waitReachable(port, true);
    },
    async destroy() {
      if (running) ctl('stop');
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A server process of its own, killed and restarted on the same port. */
async function ownProcess(
  scheme: string,
  command: string,
  args: (port: number, dir: string) => string[],
): Promise<OwnService> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `aimesh-${scheme}-`));
  let child: ChildProcess | undefined;
  const start = async () => {
    if (child) return;
    child = spawn(command, args(port, dir), { stdio: 'ignore' });
    await waitReachable(port, true);
  };
  const stop = async () => {
    if (!child) return;
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    child = undefined;
    await waitReachable(port, false);
  };
  await start();
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    start,
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Redis of its own, in memory only. */
export function startOwnRedis(): Promise<OwnService> {
  return ownProcess('redis', REDIS!, (port, dir) => [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ]);
}

/** A NATS server with JetStream of its own; its store survives a restart. */
export function startOwnNats(): Promise<OwnService> {
  return ownProcess('nats', NATS!, (port, dir) => ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir]);
}
