// A server the bench measures, in a process of its own (the load generator and the other servers
// never share its thread), with the process probe loaded so the bench can read its CPU time and
// profile its measured load over IPC.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const PROBE = pathToFileURL(fileURLToPath(new URL('./process-probe.js', import.meta.url))).href;
const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 20_000;
const REPLY_TIMEOUT_MS = 30_000;

/** How a role is started and how it says it is listening. */
export interface RoleSpec {
  /** Name in logs and in the profile folder. */
  name: string;
  /** Script run by node, and its arguments. */
  script: string;
  args: string[];
  /** Load tsx first (a bench script in TypeScript); the aimesh CLI registers it itself. */
  tsx: boolean;
  /**
   * `ipc`: the script sends `{ port }`; `aimesh`: the CLI's "aimesh listening on <url>" line on
   * stderr (the CLI knows nothing of the bench).
   */
  ready: 'ipc' | 'aimesh';
  /** Where to write CPU profiles of measured loads; unset: not profiled. */
  profileDir?: string;
}

/** A running role. */
export interface RoleProcess {
  name: string;
  /** http://127.0.0.1:<port> */
  origin: string;
  profiled: boolean;
  /** The process's CPU time so far (all its threads). */
  cpu(): Promise<NodeJS.CpuUsage>;
  startProfile(): void;
  /** Stops the profiler and waits until `<label>.cpuprofile` (and the request count) is written. */
  stopProfile(label: string, requests: number): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited after 20 s. */
  stop(): Promise<void>;
}

/** The environment of a measured process: no AIMESH_* overrides from the shell running the bench. */
function roleEnv(profileDir: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AIMESH_')) env[k] = v;
  if (profileDir) env.BENCH_PROFILE_DIR = profileDir;
  return env;
}

/** Waits for the first IPC message `accept` recognises, at most `timeoutMs`. */
function reply<T>(proc: ChildProcess, accept: (m: unknown) => T | undefined, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.off('message', onMessage);
      reject(new Error(`no ${what} from pid ${proc.pid} within ${REPLY_TIMEOUT_MS} ms`));
    }, REPLY_TIMEOUT_MS);
    const onMessage = (m: unknown) => {
      const value = accept(m);
      if (value === undefined) return;
      clearTimeout(timer);
      proc.off('message', onMessage);
      resolve(value);
    };
    proc.on('message', onMessage);
  });
}

/** Starts a role and resolves once it listens; rejects (and kills it) if it exits or takes over 120 s. */
export async function startRole(spec: RoleSpec): Promise<RoleProcess> {
  // BENCH_NODE_ARGS: flags for the measured processes (--trace-gc, --perf-basic-prof, ...).
  const flags = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const proc = spawn(
    process.execPath,
    [...flags, ...(spec.tsx ? ['--import', 'tsx'] : []), '--import', PROBE, spec.script, ...spec.args],
    { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: roleEnv(spec.profileDir) },
  );
  let early = '';
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${spec.name} did not start within ${READY_TIMEOUT_MS} ms:\n${early}`));
    }, READY_TIMEOUT_MS);
    const done = (error: Error | undefined, value?: string) => {
      clearTimeout(timer);
      proc.off('exit', onExit);
      if (error) reject(error);
      else resolve(value!);
    };
    const onExit = (code: number | null) => done(new Error(`${spec.name} exited with ${code}:\n${early}`));
    proc.once('exit', onExit);
    proc.stderr!.on('data', (d: Buffer) => {
      // Only the start-up's last few kilobytes are kept, for the error message.
      early = `${early}${d}`.slice(-8_192);
      const found = spec.ready === 'aimesh' && /aimesh listening on (http:\/\/\S+)/.exec(early);
      if (found) done(undefined, new URL(found[1]).origin);
    });
    if (spec.ready === 'ipc')
      proc.on('message', (m: { port?: number }) => {
        if (m.port) done(undefined, `http://127.0.0.1:${m.port}`);
      });
  });
  // From now on the role's warnings reach the bench's stderr as they come.
  proc.stderr!.removeAllListeners('data');
  proc.stderr!.on('data', (d: Buffer) => process.stderr.write(`[${spec.name}] ${d}`));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return {
    name: spec.name,
    origin,
    profiled: spec.profileDir !== undefined,
    cpu() {
      const answer = reply(proc, (m) => (m as { cpu?: NodeJS.CpuUsage }).cpu, 'CPU time');
      proc.send('cpu');
      return answer;
    },
    startProfile() {
      proc.send({ profile: 'start' });
    },
    async stopProfile(label, requests) {
      const written = reply(proc, (m) => (m as { profiled?: true }).profiled, 'profile');
      proc.send({ profile: 'stop', label, requests });
      await written;
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
