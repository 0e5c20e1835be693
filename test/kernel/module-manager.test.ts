import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/kernel/clock.js';
import { AimeshError } from '../../src/kernel/errors.js';
import { createLogger } from '../../src/kernel/logger.js';
import type { ModuleContext, ModuleDefinition } from '../../src/kernel/module.js';
import { ModuleManager, resolveTargets } from '../../src/kernel/module-manager.js';

type Base = Omit<ModuleContext, 'use' | 'tryUse'>;
const base = { logger: createLogger('silent'), clock: systemClock } as unknown as Base;

/** A module table whose modules record start and stop into `log`. */
function table(log: string[], failing?: string): ModuleDefinition[] {
  const mod = (name: string, deps: string[]): ModuleDefinition => ({
    name,
    deps,
    async init() {
      if (name === failing) throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
      return {
        api: { name },
        ready: () => ({ status: 'ready' }),
        stop: async () => {
          log.push(`stop ${name}`);
        },
      };
    },
  });
  return [
    mod('gateway', ['discovery']),
    mod('inference', ['discovery', 'registry']),
    mod('discovery', []),
    mod('registry', []),
    mod('events', []),
  ];
}

describe('Module manager', () => {
  it('starts a target after its dependencies, in topological order', () => {
    const names = resolveTargets(table([]), ['inference']).map((m) => m.name);
    expect(names).toEqual(['discovery', 'registry', 'inference']);
  });

  it('expands "all" and comma-separated targets, each module once', () => {
    expect(resolveTargets(table([]), ['gateway,inference']).map((m) => m.name)).toEqual([
      'discovery',
      'gateway',
      'registry',
      'inference',
    ]);
    expect(resolveTargets(table([]), ['all'])).toHaveLength(5);
  });

  it('refuses an unknown target and lists the valid ones', () => {
    expect(() => resolveTargets(table([]), ['gateway', 'gatewya'])).toThrow(AimeshError);
    expect(() => resolveTargets(table([]), ['gatewya'])).toThrow(
      /unknown target "gatewya"; valid targets: all, gateway, inference, discovery, registry, events/,
    );
  });

  it('refuses a dependency cycle, naming it', () => {
    const cyclic: ModuleDefinition[] = [
      {
        name: 'a',
        deps: ['b'],
        init: async () => ({ ready: () => ({ status: 'ready' }), stop: async () => {} }),
      },
      {
        name: 'b',
        deps: ['a'],
        init: async () => ({ ready: () => ({ status: 'ready' }), stop: async () => {} }),
      },
    ];
    expect(() => resolveTargets(cyclic, ['a'])).toThrow(/cycle: a → b → a/);
  });

  it('stops modules in reverse start order', async () => {
    const log: string[] = [];
    const manager = new ModuleManager(table(log));
    await manager.start(['gateway', 'events'], base);
    expect(await manager.stop(Date.now() + 1_000)).toEqual([]);
    expect(log).toEqual([
      'start discovery',
      'start gateway',
      'start events',
      'stop events',
      'stop gateway',
      'stop discovery',
    ]);
  });

  it('stops what already started when a later init fails, and rethrows', async () => {
    const log: string[] = [];
    const manager = new ModuleManager(table(log, 'inference'));
    await expect(manager.start(['inference'], base)).rejects.toThrow('inference cannot start');
    expect(log).toEqual(['start discovery', 'start registry', 'stop registry', 'stop discovery']);
    expect(manager.names()).toEqual([]);
  });

  it("gives a module its declared dependencies' APIs and refuses undeclared ones", async () => {
    let seen: unknown;
    let refused: unknown;
    const modules: ModuleDefinition[] = [
      {
        name: 'discovery',
        deps: [],
        init: async () => ({ api: { id: 'd' }, ready: () => ({ status: 'ready' }), stop: async () => {} }),
      },
      {
        name: 'registry',
        deps: [],
        init: async () => ({ api: { id: 'r' }, ready: () => ({ status: 'ready' }), stop: async () => {} }),
      },
      {
        name: 'gateway',
        deps: ['discovery'],
        async init(ctx) {
          seen = (ctx.use as (n: string) => unknown)('discovery');
          try {
            (ctx.use as (n: string) => unknown)('registry');
          } catch (error) {
            refused = error;
          }
          return { ready: () => ({ status: 'ready' }), stop: async () => {} };
        },
      },
    ];
    await new ModuleManager(modules).start(['all'], base);
    expect(seen).toEqual({ id: 'd' });
    expect((refused as AimeshError).code).toBe('undeclared_dependency');
  });

  it('starts an optional dependency first when the target runs it, and never for it alone', async () => {
    const log: string[] = [];
    const seen: unknown[] = [];
    const mod = (name: string, deps: string[], optionalDeps: string[] = []): ModuleDefinition => ({
      name,
      deps,
      optionalDeps,
      async init(ctx) {
        log.push(name);
        for (const dep of optionalDeps) seen.push((ctx.tryUse as (n: string) => unknown)(dep));
        return { api: { name }, ready: () => ({ status: 'ready' }), stop: async () => {} };
      },
    });
    const modules = [mod('worker', [], ['registry']), mod('registry', [])];
    expect(resolveTargets(modules, ['worker']).map((m) => m.name)).toEqual(['worker']);
    expect(resolveTargets(modules, ['worker,registry']).map((m) => m.name)).toEqual(['registry', 'worker']);

    await new ModuleManager(modules).start(['worker'], base);
    await new ModuleManager(modules).start(['all'], base);
    expect(log).toEqual(['worker', 'registry', 'worker']);
    expect(seen).toEqual([undefined, { name: 'registry' }]);
  });

  it('refuses tryUse of a module not listed as optional', async () => {
    const modules: ModuleDefinition[] = [
      {
        name: 'a',
        deps: [],
        async init(ctx) {
          (ctx.tryUse as (n: string) => unknown)('b');
          return { ready: () => ({ status: 'ready' }), stop: async () => {} };
        },
      },
    ];
    await expect(new ModuleManager(modules).start(['a'], base)).rejects.toMatchObject({
      code: 'undeclared_dependency',
    });
  });

  it('reports overall readiness from every module; placeholders do not count against it', async () => {
    const modules: ModuleDefinition[] = [
      {
        name: 'a',
        deps: [],
        init: async () => ({ ready: () => ({ status: 'ready' }), stop: async () => {} }),
      },
      {
        name: 'b',
        deps: [],
        init: async () => ({ ready: () => ({ status: 'placeholder' }), stop: async () => {} }),
      },
    ];
    const manager = new ModuleManager(modules);
    await manager.start(['all'], base);
    expect(manager.readiness().ready).toBe(true);
    const degraded = new ModuleManager([
      {
        name: 'c',
        deps: [],
        init: async () => ({ ready: () => ({ status: 'degraded', detail: 'x' }), stop: async () => {} }),
      },
    ]);
    await degraded.start(['all'], base);
    expect(degraded.readiness()).toEqual({
      ready: false,
      modules: { c: { status: 'degraded', detail: 'x' } },
    });
  });
  it('degrades a module whose required dependency is down once the outage outlasts its grace', async () => {
    const grace = new ModuleManager([
      {
        name: 'g',
        deps: [],
        requires: ['database'],
        init: async () => ({
          ready: () => ({ status: 'ready' }),
          stop: async () => {},
          outageGraceMs: { database: 2_000 },
        }),
      },
      {
        name: 'h',
        deps: [],
        requires: ['database'],
        init: async () => ({ ready: () => ({ status: 'ready' }), stop: async () => {} }),
      },
    ]);
    await grace.start(['all'], base);
    const down = new Map([['database' as const, { problem: 'refused', since: 10_000 }]]);
    const during = grace.readiness(down, 10_500);
    expect(during.modules.g).toEqual({
      status: 'ready',
      detail: 'database unreachable, serving from memory for 2 s more',
    });
    expect(during.modules.h).toEqual({ status: 'degraded', detail: 'database unreachable: refused' });
    expect(grace.readiness(down, 11_999).modules.g.status).toBe('ready');
    expect(grace.readiness(down, 12_000).modules.g).toEqual({
      status: 'degraded',
      detail: 'database unreachable: refused',
    });
    expect(grace.readiness(new Map(), 12_000).modules.g).toEqual({ status: 'ready' });
  });
});
