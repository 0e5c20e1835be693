import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

const bin = new URL('../../bin/aimesh.js', import.meta.url).pathname;

/** A child `node bin/aimesh.js ...` process, with its output collected. */
export interface AimeshProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** The URL from the "aimesh listening on ..." line (start only). */
  url(timeoutMs?: number): Promise<string>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

let tokenDir: string | undefined;
let started = 0;

/**
 * Where a child's generated admin token goes: started in the clone (no `cwd`), a file of its own
 * in a temporary folder, so no test writes into the clone; started in a folder of its own, the
 * default `./data/admin-token` there.
 */
function adminTokenFile(cwd: string | undefined): string | undefined {
  if (cwd) return undefined;
  if (!tokenDir) {
    const dir = mkdtempSync(join(tmpdir(), 'aimesh-test-tokens-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    tokenDir = dir;
  }
  return join(tokenDir, `admin-token-${++started}`);
}

/** Runs the aimesh CLI as a real process with `env` added to this process's environment. */
export function runAimesh(args: string[], env: Record<string, string> = {}, cwd?: string): AimeshProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, AIMESH_LOG_LEVEL: 'warn' };
  const tokenFile = adminTokenFile(cwd);
  if (tokenFile) childEnv.AIMESH_SERVER__ADMIN_TOKEN_FILE = tokenFile;
  else delete childEnv.AIMESH_SERVER__ADMIN_TOKEN_FILE;
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...childEnv, ...env },
    cwd,
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
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  return {
    child,
    output: () => output,
    exited,
    async url(timeoutMs = 20_000) {
      let url: string | undefined;
      await waitFor(
        () => {
          if (exitCode !== undefined) throw new Error(`aimesh exited with ${exitCode}:\n${output}`);
          url = /aimesh listening on (http:\/\/\S+)/.exec(output)?.[1];
          return url !== undefined;
        },
        'aimesh to listen',
        timeoutMs,
      );
      return url!;
    },
    async stop() {
      if (exitCode === undefined) child.kill('SIGTERM');
      return exited;
    },
  };
}
