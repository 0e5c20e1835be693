import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningAimesh, type StartOptions, startAimesh } from '../../src/app/runtime.js';
import { type Config, deepMerge, loadConfig } from '../../src/kernel/config.js';
import { createLogger } from '../../src/kernel/logger.js';

/** A config for tests: in-memory PGlite, in-process bus, any free port, silent logs; `overrides` deep-merge on top. */
export function testConfig(overrides: Record<string, unknown> = {}): Config {
  return loadConfig({
    env: {},
    overrides: deepMerge(
      {
        server: { port: 0, drainTimeoutMs: 2_000 },
        database: { adapter: 'pglite', dataDir: 'memory://' },
        bus: { adapter: 'memory' },
        artifacts: { dir: mkdtempSync(join(tmpdir(), 'aimesh-artifacts-')) },
        log: { level: 'silent' },
      },
      overrides,
    ) as Record<string, unknown>,
  });
}

/** Starts a real aimesh process-in-a-test on loopback; stop it in afterAll/afterEach. */
export function startTestAimesh(
  options: Omit<StartOptions, 'config'> & { config?: Record<string, unknown> } = {},
): Promise<RunningAimesh> {
  const config = testConfig(options.config);
  return startAimesh({ ...options, config, logger: options.logger ?? createLogger('silent') });
}
