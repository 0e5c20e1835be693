import { placeholderModule } from '../kernel/module.js';

/** The pipeline module. */
export const pipelineModule = placeholderModule(
  'pipeline',
  ['registry'],
  'pipelines, experiments and the scheduler',
);
