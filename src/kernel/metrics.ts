import { collectDefaultMetrics, Registry } from 'prom-client';

export type { Registry };

/** One Prometheus registry per process, handed to every component (no global default registry). */
export function createMetrics(withDefaults = true): Registry {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'aimesh_' });
  return registry;
}
