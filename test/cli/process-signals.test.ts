import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const env = {
  ...process.env,
  AIMESH_LOG_LEVEL: 'warn',
  AIMESH_DATABASE__DATA_DIR: 'memory://',
  npm_config_update_notifier: 'false',
};
// `--port 0`: the main listener and the inference listener each on a free port, both printed.
const args = ['start', '--target', 'inference', '--port', '0'];

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const started: Started[] = [];

/** Runs `command` in a process group of its own (so a test can see and clean up all it started). */
function launch(command: string, commandArgs: string[]): Started {
  const child = spawn(command, commandArgs, {
    cwd: root,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => {
    output += d;
  });
  child.stderr!.on('data', (d) => {
    output += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const run = { child, output: () => output, exited };
  started.push(run);
  return run;
}

/**
 * The live pids left in a process group (none once everything exited). A zombie has exited and
 * holds no port; it stays listed until its new parent reaps it, which an init that does not reap
 * orphans (some containers' pid 1) never does.
 */
function groupMembers(pgid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=,stat=', '-g', String(pgid)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter(([pid, stat]) => Number(pid) > 0 && !stat?.startsWith('Z'))
      .map(([pid]) => Number(pid));
  } catch {
    return []; // ps exits 1 when nothing matched
  }
}

/** `ps` of a process group, for a failure message. */
function listGroup(pgid: number): string {
  try {
    return execFileSync('ps', ['-o', 'pid,ppid,stat,etime,args', '-g', String(pgid)], { encoding: 'utf8' });
  } catch {
    return '(nothing)';
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Waits for the "listening" line and returns the main and inference ports. */
async function listeningPorts(run: Started): Promise<number[]> {
  let match: RegExpExecArray | null = null;
  await waitFor(
    () => {
      match = /listening on http:\/\/127\.0\.0\.1:(\d+) \(inference on http:\/\/127\.0\.0\.1:(\d+)/.exec(
        run.output(),
      );
      return match !== null;
    },
    `aimesh to listen; output so far:\n${run.output()}`,
    60_000,
  );
  const [, main, inference] = match!;
  return [Number(main), Number(inference)];
}

async function expectAllGone(pgid: number, ports: number[]): Promise<void> {
  await waitFor(() => groupMembers(pgid).length === 0, `process group ${pgid} to be empty`, 15_000).catch(
    (error: Error) => {
      throw new Error(`${error.message}; left:\n${listGroup(pgid)}`);
    },
  );
  for (const port of ports) expect(await portIsFree(port)).toBe(true);
}

afterEach(() => {
  // Whatever a failed test left behind: only the groups this file started.
  for (const run of started.splice(0)) {
    if (groupMembers(run.child.pid!).length > 0) process.kill(-run.child.pid!, 'SIGKILL');
  }
});

describe('a SIGTERM to the process the user started stops the server and frees its ports', () => {
  const ways: [string, string, string[]][] = [
    ['npm start', 'npm', ['start', '--silent', '--', ...args.slice(1)]],
    ['npx aimesh start', 'npx', ['--no-install', 'aimesh', ...args]],
    ['node bin/aimesh.js start', process.execPath, ['bin/aimesh.js', ...args]],
  ];
  for (const [name, command, commandArgs] of ways) {
    it(`${name}: nothing is left running`, async () => {
      const run = launch(command, commandArgs);
      const ports = await listeningPorts(run);
      expect(ports[0]).toBeGreaterThan(0);
      expect(ports[1]).toBeGreaterThan(0);
      expect(await portIsFree(ports[0])).toBe(false);
      run.child.kill('SIGTERM');
      await run.exited;
      await expectAllGone(run.child.pid!, ports);
      expect(run.output()).not.toMatch(/\n\s+at /);
    }, 90_000);
  }

  it('the server stops by itself when the process that started it is killed outright', async () => {
    // A wrapper shell that SIGKILL takes down without passing anything on.
    const run = launch('sh', ['-c', `"${process.execPath}" bin/aimesh.js ${args.join(' ')}; exit 0`]);
    const ports = await listeningPorts(run);
    run.child.kill('SIGKILL');
    await run.exited;
    expect(groupMembers(run.child.pid!).length).toBeGreaterThan(0); // the server outlived its parent…
    await expectAllGone(run.child.pid!, ports); // …and then stopped by itself
  }, 90_000);
});
