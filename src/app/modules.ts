import { dashboardModule } from '../dashboard/index.js';
import { discoveryModule } from '../discovery/index.js';
import { eventLogModule, eventsModule } from '../events/index.js';
import { gatewayModule } from '../gateway/index.js';
import { inferenceModule } from '../inference/index.js';
import type { ModuleDefinition } from '../kernel/module.js';
import { pipelineModule, schedulerModule } from '../pipeline/index.js';
import { registryModule } from '../registry/index.js';
import { streamsModule } from '../streams/index.js';
import { workerModule } from '../worker/index.js';

/**
 * The module table: every component, its dependencies and its init. A target is a set of
 * these; the manager starts them in dependency order. Nothing else decides start order.
 */
export const moduleTable: ModuleDefinition[] = [
  eventLogModule,
  eventsModule,
  discoveryModule,
  registryModule,
  gatewayModule,
  inferenceModule,
  schedulerModule,
  pipelineModule,
  workerModule,
  streamsModule,
  dashboardModule,
];
