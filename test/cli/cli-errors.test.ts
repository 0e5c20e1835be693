import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeCliError, ExitCode } from '../../src/cli/cli-errors.js';
import { AimeshError } from '../../src/kernel/errors.js';

const bin = new URL('../../bin/aimesh.js', import.meta.url).pathname;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function aimesh(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, AIMESH_LOG_LEVEL: 'warn', AIMESH_URL: '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? -1) : 0, stdout, stderr }),
    );
  });
}

// A closed port on loopback: nothing listens on port 1.
const nowhere = 'http://127.0.0.1:1';

/** Each command with a bad argument, and the exit code it must end with. */
const cases: [string, string[], number][] = [
  ['start --port abc', ['start', '--port', 'abc'], ExitCode.configuration],
  ['start --workers 0', ['start', '--workers', '0'], ExitCode.configuration],
  ['start --config missing.yaml', ['start', '--config', '/no/such/aimesh.yaml'], ExitCode.configuration],
  ['migrate --config missing.yaml', ['migrate', '--config', '/no/such/aimesh.yaml'], ExitCode.configuration],
  ['events tail --count 0', ['events', 'tail', '--count', '0'], ExitCode.usage],
  ['events tail --url not-a-url', ['events', 'tail', '--url', 'not-a-url'], ExitCode.usage],
  ['events ls --limit x', ['events', 'ls', '--limit', 'x'], ExitCode.usage],
  ['events ls against nothing', ['events', 'ls', '--url', nowhere], ExitCode.unreachable],
  ['models ls --limit -1', ['models', 'ls', '--limit', '-1'], ExitCode.usage],
  ['models show without a name', ['models', 'show'], ExitCode.usage],
  ['models promote iris x', ['models', 'promote', 'iris', 'x'], ExitCode.usage],
  ['models compare iris 1', ['models', 'compare', 'iris', '1'], ExitCode.usage],
  ['models serve a missing path', ['models', 'serve', '/no/such/models'], ExitCode.usage],
  ['models serve --port 99999', ['models', 'serve', '.', '--port', '99999'], ExitCode.usage],
  [
    'datasets push a missing file',
    ['datasets', 'push', '/no/such/iris.csv', '--name', 'iris'],
    ExitCode.usage,
  ],
  ['datasets push nothing', ['datasets', 'push'], ExitCode.usage],
  ['datasets ls --offset -1', ['datasets', 'ls', '--offset', '-1'], ExitCode.usage],
  ['datasets show without a name', ['datasets', 'show'], ExitCode.usage],
  ['lineage --depth 50', ['lineage', 'iris@1', '--depth', '50'], ExitCode.usage],
  ['infer --input not JSON', ['infer', 'iris', '--input', 'nope'], ExitCode.usage],
  ['infer --url not-a-url', ['infer', 'iris', '--input', '[1]', '--url', 'not-a-url'], ExitCode.usage],
  ['keys create without --owner', ['keys', 'create'], ExitCode.usage],
  ['keys revoke without an id', ['keys', 'revoke'], ExitCode.usage],
  ['keys list against nothing', ['keys', 'list'], ExitCode.unreachable],
  ['an unknown command', ['frobnicate'], ExitCode.usage],
];

function expectOneLine(ran: Ran): void {
  const lines = ran.stderr.trim().split('\n');
  expect(lines, ran.stderr).toHaveLength(1);
  expect(ran.stderr).not.toMatch(/^\s+at /m);
  expect(ran.stderr).not.toMatch(/Error:/);
}

describe('every CLI failure is one line with a documented exit code', () => {
  // Run in small groups: each is a Node process of its own.
  const results = new Map<string, Ran>();
  beforeAll(async () => {
    for (let i = 0; i < cases.length; i += 4) {
      await Promise.all(
        cases.slice(i, i + 4).map(async ([name, args]) => {
          results.set(name, await aimesh(args, { AIMESH_URL: nowhere }));
        }),
      );
    }
  }, 180_000);

  for (const [name, , code] of cases) {
    it(`${name}: exit ${code}, one line, no stack trace`, () => {
      const ran = results.get(name)!;
      expect(ran.code, ran.stderr).toBe(code);
      expectOneLine(ran);
    });
  }

  it('a missing file names the file and says to check the path', () => {
    expect(results.get('datasets push a missing file')!.stderr).toBe(
      'aimesh: /no/such/iris.csv: no such file or directory (ENOENT; check the path)\n',
    );
  });
});

describe('a refusal by the server', () => {
  let server: Server;
  let url = '';
  beforeAll(async () => {
    // Stands in for a running aimesh answering with its error body.
    server = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'dataset_not_found', message: 'no dataset named iris' } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('is one line with the server code and status, exit 3', async () => {
    const ran = await aimesh(['datasets', 'show', 'iris'], { AIMESH_URL: url });
    expect(ran.code).toBe(ExitCode.refused);
    expect(ran.stderr).toBe('aimesh: no dataset named iris (dataset_not_found, HTTP 404)\n');
  });
});

describe('describeCliError', () => {
  it('folds a multi-line configuration error into one line, exit 2', () => {
    const error = new AimeshError('invalid_config', 400, 'invalid configuration:\n  - /a: x\n  - /b: y');
    expect(describeCliError(error)).toEqual({
      exitCode: ExitCode.configuration,
      line: 'invalid configuration: /a: x; /b: y (invalid_config)',
    });
  });

  it('reports an unexpected error as internal, exit 5, pointing at AIMESH_DEBUG', () => {
    const described = describeCliError(new TypeError('boom'));
    expect(described.exitCode).toBe(ExitCode.internal);
    expect(described.line).toBe('internal error: boom (set AIMESH_DEBUG=1 for the stack trace)');
  });
});
