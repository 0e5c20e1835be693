import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../src/adapters/memory/memory-bus.js';
import { openDatabase } from '../../src/app/adapters.js';
import { migrate } from '../../src/app/migrations.js';
import { DiscoveryConfig } from '../../src/discovery/config.js';
import type { ServiceInstance } from '../../src/discovery/index.js';
import { InstanceStore } from '../../src/discovery/instance-store.js';
import { ServiceDirectory, validateRegistration } from '../../src/discovery/service-directory.js';
import { ManualClock } from '../../src/kernel/clock.js';
import { readSection } from '../../src/kernel/config.js';
import { createLogger } from '../../src/kernel/logger.js';
import type { Database } from '../../src/ports/database.js';
import type { EventBus } from '../../src/ports/event-bus.js';
import { createTestDatabase, serviceAvailable } from '../support/services.js';

const migrations = [
  { module: 'discovery', dir: new URL('../../src/discovery/migrations', import.meta.url).pathname },
];

function specify(name: string, open: () => Promise<{ db: Database; drop(): Promise<void> }>) {
  describe(`ServiceDirectory on ${name}`, () => {
    let db: Database;
    let drop: () => Promise<void>;
    let bus: EventBus;
    const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
    const directories: ServiceDirectory[] = [];
    const config = readSection(DiscoveryConfig, {
      defaultTtlMs: 3_000,
      refreshIntervalMs: 60_000,
      sweepIntervalMs: 60_000,
    });

    const directory = async () => {
      const d = new ServiceDirectory({
        store: new InstanceStore(db),
        bus,
        clock,
        logger: createLogger('silent'),
        config,
      });
      await d.start();
      directories.push(d);
      return d;
    };

    beforeAll(async () => {
      ({ db, drop } = await open());
      await migrate(db, migrations);
      bus = createMemoryBus();
    });
    afterEach(async () => {
      for (const d of directories.splice(0)) await d.stop();
      await db.query('DELETE FROM aimesh_discovery_instances');
    });
    afterAll(async () => {
      await bus.close();
      await db.close();
      await drop();
    });

    it('finds a registered instance by service name, with its metadata', async () => {
      const d = await directory();
      const registration = await d.register({
        service: 'model-inference',
        url: 'http://127.0.0.1:9001/',
        metadata: { zone: 'a' },
      });
      expect(d.instances('model-inference')).toEqual([registration.instance]);
      expect(registration.instance.url).toBe('http://127.0.0.1:9001');
      expect(d.instances('model-training')).toEqual([]);
    });

    it('tells a watcher in another process of a registration through the bus, before any refresh', async () => {
      const gateway = await directory();
      const inference = await directory();
      const seen: ServiceInstance[][] = [];
      gateway.watch('model-inference', (list) => seen.push(list));
      const registration = await inference.register({
        service: 'model-inference',
        url: 'http://127.0.0.1:9002',
      });
      await new Promise((r) => setTimeout(r, 20));
      expect(seen.at(-1)?.map((i) => i.id)).toEqual([registration.instance.id]);
      await registration.update({ models: [{ id: 'm', version: '2' }] });
      await new Promise((r) => setTimeout(r, 20));
      expect(gateway.instances('model-inference')[0].metadata).toEqual({
        models: [{ id: 'm', version: '2' }],
      });
      await registration.deregister();
      await new Promise((r) => setTimeout(r, 20));
      expect(gateway.instances('model-inference')).toEqual([]);
      expect(seen.at(-1)).toEqual([]);
    });

    it('drops an instance whose heartbeats stop once its TTL passes', async () => {
      const d = await directory();
      const instance = await d.registerOnce({
        service: 'model-inference',
        url: 'http://127.0.0.1:9003',
        ttlMs: 1_000,
      });
      await clock.advance(900);
      d.sweep();
      expect(d.instances('model-inference').map((i) => i.id)).toEqual([instance.id]);
      await clock.advance(200);
      d.sweep();
      expect(d.instances('model-inference')).toEqual([]);
      expect(await d.heartbeat(instance.id)).toBeUndefined();
    });

    it('keeps an instance alive while heartbeats arrive within the TTL', async () => {
      const d = await directory();
      const instance = await d.registerOnce({ service: 'svc', url: 'http://127.0.0.1:9004', ttlMs: 1_000 });
      for (let i = 0; i < 5; i++) {
        await clock.advance(700);
        expect(await d.heartbeat(instance.id)).toBeDefined();
        d.sweep();
      }
      expect(d.instances('svc')).toHaveLength(1);
    });

    it('rebuilds its view from the database on refresh (a late starter sees everyone)', async () => {
      const first = await directory();
      await first.register({ service: 'svc', url: 'http://127.0.0.1:9005' });
      const late = await directory();
      expect(late.instances('svc')).toHaveLength(1);
    });

    it('reaches a process on another bus through the shared table on its next refresh', async () => {
      const otherBus = createMemoryBus();
      const elsewhere = new ServiceDirectory({
        store: new InstanceStore(db),
        bus: otherBus,
        clock,
        logger: createLogger('silent'),
        config,
      });
      await elsewhere.start();
      try {
        const d = await directory();
        await d.register({ service: 'split', url: 'http://127.0.0.1:9007' });
        expect(elsewhere.instances('split')).toEqual([]);
        await elsewhere.refresh();
        expect(elsewhere.instances('split').map((i) => i.url)).toEqual(['http://127.0.0.1:9007']);
      } finally {
        await elsewhere.stop();
        await otherBus.close();
      }
    });

    it('deregisters its own instances on stop', async () => {
      const gateway = await directory();
      const inference = new ServiceDirectory({
        store: new InstanceStore(db),
        bus,
        clock,
        logger: createLogger('silent'),
        config,
      });
      await inference.start();
      await inference.register({ service: 'svc', url: 'http://127.0.0.1:9006' });
      await new Promise((r) => setTimeout(r, 10));
      expect(gateway.instances('svc')).toHaveLength(1);
      await inference.stop();
      await new Promise((r) => setTimeout(r, 10));
      expect(gateway.instances('svc')).toEqual([]);
      expect(await new InstanceStore(db).live(clock.now(), 10)).toEqual([]);
    });
  });
}

specify('PGlite', async () => ({
  db: await openDatabase({ adapter: 'pglite', dataDir: 'memory://', poolSize: 1 }),
  drop: async () => {},
}));

const postgres = await serviceAvailable('postgres');
describe.skipIf(!postgres)('with PostgreSQL', () => {
  specify('PostgreSQL', async () => {
    const created = await createTestDatabase();
    return {
      db: await openDatabase({ adapter: 'postgres', url: created.url, dataDir: '', poolSize: 2 }),
      drop: created.drop,
    };
  });
});

describe('validateRegistration', () => {
  it('accepts well-formed registrations', () => {
    expect(() =>
      validateRegistration({ service: 'model-inference', url: 'http://127.0.0.1:8081', ttlMs: 5000 }),
    ).not.toThrow();
  });

  it('rejects anything else with a 400 naming the field, never another error', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.option(fc.integer(), { nil: undefined }),
        (service, url, ttlMs) => {
          try {
            validateRegistration({ service, url, ttlMs });
          } catch (error) {
            expect((error as { status: number }).status).toBe(400);
            expect((error as { code: string }).code).toMatch(/^invalid_(service|url|ttl)$/);
          }
        },
      ),
    );
    expect(() => validateRegistration({ service: 'Bad Name', url: 'http://x' })).toThrow(/service name/);
    expect(() => validateRegistration({ service: 'ok', url: 'ftp://x' })).toThrow(/http/);
    expect(() => validateRegistration({ service: 'ok', url: 'http://x', ttlMs: 5 })).toThrow(/ttlMs/);
  });
});
