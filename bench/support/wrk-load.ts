// Closed-loop HTTP load from wrk (C, one epoll thread): a fraction of the CPU per request a Node
// load generator needs, so on a small machine the generator is not the ceiling it measures.
// Each scenario's request is a Lua script; its done() hook prints one JSON line, parsed here
// rather than wrk's text report.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** The one request every connection sends, again and again. */
export interface WrkRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** What one wrk run measured. */
export interface WrkResult {
  requests: number;
  rps: number;
  /** Latency percentiles (ms) of the calls that answered. */
  p50: number;
  p99: number;
  /** Socket errors: connect, read, write and timeouts. */
  errors: number;
  /**
   * Answers with status >= 400, as wrk counts them (without a per-response Lua hook, which would
   * cost the generator a fifth more CPU); no role here answers 1xx or 3xx, and each scenario's
   * request is checked for a 2xx before it is measured.
   */
  non2xx: number;
}

export interface WrkOptions {
  threads: number;
  connections: number;
  seconds: number;
}

/** wrk's version line, or undefined when wrk is not installed. */
export function wrkVersion(): string | undefined {
  const run = spawnSync('wrk', ['--version'], { encoding: 'utf8', timeout: 5_000 });
  if (run.error) return undefined;
  return /wrk\s+\S+/.exec(`${run.stdout}${run.stderr}`)?.[0] ?? 'wrk';
}

/** A Lua string literal for any text (LuaJIT knows no \u escapes, so bytes go as \ddd). */
function luaString(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\${byte}`;
  }
  return `${out}"`;
}

/** Writes the Lua script that makes wrk send `request` and report as JSON; returns its path. */
export function writeWrkScript(file: string, request: WrkRequest): string {
  const lines = [
    `wrk.method = ${luaString(request.method)}`,
    `wrk.path = ${luaString(request.path)}`,
    ...Object.entries(request.headers).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`),
    ...(request.body === undefined ? [] : [`wrk.body = ${luaString(request.body)}`]),
    // done() runs once, after the threads stopped; latency is in microseconds.
    'function done(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'\\n{"wrk":{"requests":%.0f,"durationMicros":%.0f,"p50Micros":%.0f,"p99Micros":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"timeout":%.0f,"status":%.0f}}\\n\',',
    '    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),',
    '    e.connect, e.read, e.write, e.timeout, e.status))',
    'end',
  ];
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

interface DoneLine {
  requests: number;
  durationMicros: number;
  p50Micros: number;
  p99Micros: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  status: number;
}

/** Runs wrk against `origin` with the script's request for `seconds`; rejects if wrk fails or hangs. */
export function runWrk(origin: string, script: string, options: WrkOptions): Promise<WrkResult> {
  const args = [
    `--threads=${options.threads}`,
    `--connections=${options.connections}`,
    `--duration=${options.seconds}s`,
    // A call slower than this counts as an error rather than a latency sample.
    '--timeout=10s',
    `--script=${script}`,
    origin,
  ];
  return new Promise((resolve, reject) => {
    const wrk = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    wrk.stdout.on('data', (d) => {
      output += d;
    });
    wrk.stderr.on('data', (d) => {
      output += d;
    });
    // wrk stops itself after `seconds`; the guard only catches a wrk that does not.
    const guard = setTimeout(() => wrk.kill('SIGKILL'), (options.seconds + 30) * 1_000);
    wrk.once('error', (error) => {
      clearTimeout(guard);
      reject(error);
    });
    wrk.once('close', (code) => {
      clearTimeout(guard);
      const line = output.split('\n').find((l) => l.startsWith('{"wrk":'));
      if (code !== 0 || !line) {
        reject(new Error(`wrk ${args.join(' ')} exited with ${code}:\n${output.trim()}`));
        return;
      }
      const done = (JSON.parse(line) as { wrk: DoneLine }).wrk;
      resolve({
        requests: done.requests,
        rps: Math.round(done.requests / Math.max(1e-6, done.durationMicros / 1e6)),
        p50: Number((done.p50Micros / 1000).toFixed(2)),
        p99: Number((done.p99Micros / 1000).toFixed(2)),
        errors: done.connect + done.read + done.write + done.timeout,
        non2xx: done.status,
      });
    });
  });
}
