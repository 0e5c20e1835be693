import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, environmentOverrides, loadConfig, readSection } from '../../src/kernel/config.js';

const dir = mkdtempSync(join(tmpdir(), 'aimesh-config-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const problems = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
};

describe('Configuration', () => {
  it('applies the embedded defaults when there is no file and no environment', () => {
    const config = loadConfig({ env: {}, file: file('empty.yaml', '') });
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(config.database.adapter).toBe('pglite');
    expect(config.bus).toMatchObject({ adapter: 'memory', stream: 'AIMESH', subjectPrefix: '' });
  });

  it('names every bad field with its path, what was expected and what was given', () => {
    const path = file(
      'bad.yaml',
      'server:\n  port: "eighty"\ndatabase:\n  adapter: mysql\nbus:\n  stream: "has space"\n',
    );
    const found = problems(() => loadConfig({ env: {}, file: path }));
    const byPath = Object.fromEntries(found.map((p) => [p.path, p]));
    expect(Object.keys(byPath).sort()).toEqual(['/bus/stream', '/database/adapter', '/server/port']);
    expect(byPath['/server/port'].got).toBe('eighty');
    expect(byPath['/server/port'].expected).toMatch(/integer/i);
    expect(byPath['/database/adapter'].got).toBe('mysql');
    expect(byPath['/bus/stream'].got).toBe('has space');
  });

  it('puts path, expectation and value in the message a person reads', () => {
    expect(() => loadConfig({ env: {}, overrides: { server: { port: 70000 } } })).toThrow(
      /\/server\/port: expected .*65535.*got 70000/,
    );
  });

  it('refuses an unknown top-level key', () => {
    const found = problems(() => loadConfig({ env: {}, file: file('unknown.yaml', 'sever:\n  port: 1\n') }));
    expect(found).toHaveLength(1);
    expect(found[0].path).toBe('/sever');
    expect(found[0].expected).toMatch(/no such key; known keys: server, database, bus/);
  });

  it('requires database.url for the postgres adapter', () => {
    const found = problems(() => loadConfig({ env: {}, overrides: { database: { adapter: 'postgres' } } }));
    expect(found[0].path).toBe('/database/url');
  });

  it('lets the environment override the file, and flags override both', () => {
    const path = file('port.yaml', 'server:\n  port: 1000\nlog:\n  level: debug\n');
    const env = { AIMESH_PORT: '2000', AIMESH_SERVER__DRAIN_TIMEOUT_MS: '1234', AIMESH_LOG_LEVEL: 'warn' };
    expect(loadConfig({ env, file: path }).server).toMatchObject({ port: 2000, drainTimeoutMs: 1234 });
    expect(loadConfig({ env, file: path }).log.level).toBe('warn');
    expect(loadConfig({ env, file: path, overrides: { server: { port: 3000 } } }).server.port).toBe(3000);
  });

  it('maps AIMESH_SECTION__KEY variables to camelCase paths; URL shortcuts select their adapter', () => {
    expect(
      environmentOverrides({
        AIMESH_GATEWAY__RATE_LIMIT__RPS: '100',
        AIMESH_DATABASE_URL: 'postgres://x@127.0.0.1/db',
        AIMESH_NATS_URL: 'nats://127.0.0.1:4222',
        OTHER: '1',
      }),
    ).toEqual({
      gateway: { rateLimit: { rps: 100 } },
      database: { url: 'postgres://x@127.0.0.1/db', adapter: 'postgres' },
      bus: { servers: 'nats://127.0.0.1:4222', adapter: 'nats' },
    });
  });

  it('reports a config file that is missing or not YAML', () => {
    expect(() => loadConfig({ env: {}, file: join(dir, 'nope.yaml') })).toThrow(/does not exist/);
    expect(() => loadConfig({ env: {}, file: file('broken.yaml', 'server: [1, 2\n') })).toThrow(
      /not valid YAML/,
    );
    expect(problems(() => loadConfig({ env: {}, file: file('list.yaml', '- 1\n- 2\n') }))[0].path).toBe('/');
  });

  it("reads a module's section with its own schema, defaults and path prefix", () => {
    const Section = Type.Object({ rps: Type.Integer({ minimum: 1, default: 100 }) }, { default: {} });
    expect(readSection(Section, undefined, '/gateway')).toEqual({ rps: 100 });
    expect(problems(() => readSection(Section, { rps: 0 }, '/gateway'))[0].path).toBe('/gateway/rps');
  });

  it('refuses keys named like Object.prototype members with a ConfigError, not a crash', () => {
    for (const overrides of [
      { valueOf: undefined },
      { toString: {} },
      { server: { hasOwnProperty: 1 } },
      JSON.parse('{"__proto__": {"port": 1}}'),
    ]) {
      try {
        loadConfig({ env: {}, overrides });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
      }
    }
    expect(() => loadConfig({ env: {}, overrides: { valueOf: undefined } })).toThrow(
      /\/valueOf: expected no such key/,
    );
  });

  it('never fails on arbitrary input with anything but a ConfigError', () => {
    fc.assert(
      fc.property(
        fc.object({ maxDepth: 3 }),
        fc.dictionary(fc.string(), fc.string()),
        (overrides, rawEnv) => {
          // AIMESH_CONFIG names a file; a missing file is its own error (config_not_found).
          const env = Object.fromEntries(
            Object.entries(rawEnv)
              .filter(([k]) => k !== 'CONFIG')
              .map(([k, v]) => [`AIMESH_${k}`, v]),
          );
          try {
            loadConfig({ env, overrides: overrides as Record<string, unknown> });
          } catch (error) {
            if (!(error instanceof ConfigError)) throw error;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
