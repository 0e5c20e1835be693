import type { PipelineDefinition } from '../definition.js';

/**
 * The pipeline one trial runs: the experiment's, with the trial's parameters over every train
 * stage's and without deploy stages (only the experiment's best trial is registered and
 * offered for promotion, once the search ends).
 */
export function trialDefinition(
  base: PipelineDefinition,
  params: Record<string, unknown>,
): PipelineDefinition {
  const deploys = new Set(base.stages.filter((s) => s.type === 'deploy').map((s) => s.name));
  return {
    ...base,
    stages: base.stages
      .filter((s) => !deploys.has(s.name))
      .map((s) => ({
        ...s,
        dependsOn: s.dependsOn.filter((d) => !deploys.has(d)),
        params: s.type === 'train' ? { ...s.params, ...params } : s.params,
      })),
  };
}
