import { AimeshError } from './errors.js';
import type {
  Dependency,
  ModuleApis,
  ModuleContext,
  ModuleDefinition,
  ModuleInstance,
  Outage,
  Readiness,
} from './module.js';

/** The module names a target list expands to, dependencies first; `all` means every module. */
export function resolveTargets(table: ModuleDefinition[], targets: string[]): ModuleDefinition[] {
  const byName = new Map(table.map((m) => [m.name, m]));
  const wanted = targets
    .flatMap((t) => t.split(','))
    .map((t) => t.trim())
    .filter(Boolean);
  const unknown = wanted.filter((t) => t !== 'all' && !byName.has(t));
  if (unknown.length > 0) {
    throw new AimeshError(
      'unknown_target',
      400,
      `unknown target ${unknown.map((t) => `"${t}"`).join(', ')}; valid targets: all, ${table.map((m) => m.name).join(', ')}`,
    );
  }
  const roots = wanted.length === 0 || wanted.includes('all') ? table.map((m) => m.name) : wanted;
  // Every module the targets need; an optional dependency only orders modules within this set.
  const needed = new Set<string>();
  const collect = (name: string) => {
    if (needed.has(name)) return;
    needed.add(name);
    for (const dep of byName.get(name)?.deps ?? []) collect(dep);
  };
  for (const name of roots) collect(name);
  const order: ModuleDefinition[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]) => {
    const module = byName.get(name);
    if (!module)
      throw new AimeshError('unknown_module', 500, `module ${path.join(' → ')} depends on unknown ${name}`);
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      throw new AimeshError('module_cycle', 500, `module dependency cycle: ${[...path, name].join(' → ')}`);
    }
    state.set(name, 'visiting');
    for (const dep of module.deps) visit(dep, [...path, name]);
    for (const dep of module.optionalDeps ?? []) if (needed.has(dep)) visit(dep, [...path, name]);
    state.set(name, 'done');
    order.push(module);
  };
  for (const name of roots) visit(name, []);
  return order;
}

type BaseContext = Omit<ModuleContext, 'use' | 'tryUse'>;

/** Starts modules in dependency order and stops them in reverse; Mimir's module manager, small. */
export class ModuleManager {
  private readonly running: { definition: ModuleDefinition; instance: ModuleInstance }[] = [];

  constructor(private readonly table: ModuleDefinition[]) {}

  /** Starts the targets' modules; on a failure, stops what had started and rethrows. */
  async start(targets: string[], base: BaseContext): Promise<void> {
    const order = resolveTargets(this.table, targets);
    const apis = new Map<string, unknown>();
    for (const definition of order) {
      const ctx: ModuleContext = {
        ...base,
        logger: base.logger.child({ module: definition.name }),
        use: <K extends keyof ModuleApis>(name: K): ModuleApis[K] => {
          if (!definition.deps.includes(name as string)) {
            throw new AimeshError(
              'undeclared_dependency',
              500,
              `${definition.name} uses ${String(name)} without listing it in deps`,
            );
          }
          return apis.get(name as string) as ModuleApis[K];
        },
        tryUse: <K extends keyof ModuleApis>(name: K): ModuleApis[K] | undefined => {
          if (!definition.optionalDeps?.includes(name as string)) {
            throw new AimeshError(
              'undeclared_dependency',
              500,
              `${definition.name} tries ${String(name)} without listing it in optionalDeps`,
            );
          }
          return apis.get(name as string) as ModuleApis[K] | undefined;
        },
      };
      try {
        const instance = await definition.init(ctx);
        apis.set(definition.name, instance.api);
        this.running.push({ definition, instance });
      } catch (error) {
        await this.stop(Date.now() + 5_000);
        throw error;
      }
    }
  }

  /** The API of a running module, or undefined when it does not run in this process. */
  api<K extends keyof ModuleApis>(name: K): ModuleApis[K] | undefined {
    return this.running.find((r) => r.definition.name === name)?.instance.api as ModuleApis[K] | undefined;
  }

  /** The names of the running modules, in start order. */
  names(): string[] {
    return this.running.map((r) => r.definition.name);
  }

  /**
   * Each running module's readiness; overall ready when none is starting or degraded. A module
   * that requires an unreachable dependency (`down`: dependency → outage) is degraded once the
   * outage has lasted longer than the module's grace for it (none by default).
   */
  readiness(
    down: ReadonlyMap<Dependency, Outage> = new Map(),
    now = Date.now(),
  ): {
    ready: boolean;
    modules: Record<string, Readiness>;
  } {
    const modules: Record<string, Readiness> = {};
    for (const { definition, instance } of this.running) {
      modules[definition.name] = readinessOf(definition, instance, down, now);
    }
    const ready = Object.values(modules).every((r) => r.status === 'ready' || r.status === 'placeholder');
    return { ready, modules };
  }

  /** Stops running modules in reverse start order; one module's failure does not stop the others'. */
  async stop(deadline: number): Promise<Error[]> {
    const errors: Error[] = [];
    while (this.running.length > 0) {
      const { definition, instance } = this.running.pop()!;
      try {
        await instance.stop(deadline);
      } catch (error) {
        errors.push(new Error(`stopping ${definition.name}: ${(error as Error).message}`));
      }
    }
    return errors;
  }
}

function readinessOf(
  definition: ModuleDefinition,
  instance: ModuleInstance,
  down: ReadonlyMap<Dependency, Outage>,
  now: number,
): Readiness {
  let serving: Readiness | undefined;
  for (const dependency of definition.requires ?? []) {
    const outage = down.get(dependency);
    if (!outage) continue;
    const left = (instance.outageGraceMs?.[dependency] ?? 0) - (now - outage.since);
    if (left <= 0) return { status: 'degraded', detail: `${dependency} unreachable: ${outage.problem}` };
    serving ??= {
      status: 'ready',
      detail: `${dependency} unreachable, serving from memory for ${Math.ceil(left / 1000)} s more`,
    };
  }
  return serving ?? instance.ready();
}
