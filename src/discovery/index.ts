import { Gauge } from 'prom-client';
import { readSection } from '../kernel/config.js';
import type { ModuleDefinition } from '../kernel/module.js';
import type { DiscoveryApi, ServiceInstance } from './api.js';
import { DiscoveryConfig } from './config.js';
import { InstanceStore } from './instance-store.js';
import { discoveryRoutes } from './routes.js';
import { ServiceDirectory } from './service-directory.js';

export type { DiscoveryApi, Registration, ServiceInstance } from './api.js';
export { DiscoveryConfig } from './config.js';

/** The discovery API plus the admin listing of every live instance. */
export interface DiscoveryModuleApi extends DiscoveryApi {
  /** Every live instance in the local view, optionally of one service. */
  list(service?: string): ServiceInstance[];
}

declare module '../kernel/module.js' {
  interface ModuleApis {
    discovery: DiscoveryModuleApi;
  }
}

/** The discovery module: instances with heartbeats and TTLs in the shared database, changes fanned out on the bus. */
export const discoveryModule: ModuleDefinition = {
  name: 'discovery',
  deps: [],
  requires: ['database', 'bus'],
  migrations: new URL('./migrations', import.meta.url).pathname,
  async init(ctx) {
    const config = readSection(DiscoveryConfig, ctx.config.discovery, '/discovery');
    const directory = new ServiceDirectory({
      store: new InstanceStore(ctx.db),
      bus: ctx.bus,
      clock: ctx.clock,
      logger: ctx.logger,
      config,
    });
    await directory.start();
    new Gauge({
      name: 'aimesh_discovery_instances',
      help: 'Live instances per service in this process’s view.',
      labelNames: ['service'],
      registers: [ctx.metrics],
      collect() {
        this.reset();
        for (const [service, count] of directory.counts()) this.set({ service }, count);
      },
    });
    await ctx.http.register(discoveryRoutes(directory), { prefix: '/api/v1/discovery' });
    const api: DiscoveryModuleApi = {
      register: (input) => directory.register(input),
      instances: (service) => directory.instances(service),
      watch: (service, listener) => directory.watch(service, listener),
      list: (service) => directory.list(service),
    };
    return {
      api,
      // Ready while every instance this process registered is in the directory.
      ready: () => {
        const missing = directory.unregistered();
        if (missing.length === 0) return { status: 'ready' };
        const names = missing.map((i) => `${i.service} ${i.id}`).join(', ');
        return { status: 'degraded', detail: `not registered: ${names}; re-registering` };
      },
      // The local view stays good for one registration TTL after the database goes away.
      outageGraceMs: { database: config.defaultTtlMs },
      stop: () => directory.stop(),
    };
  },
};
