import { evaluateStage } from './evaluate.js';
import { prepareStage } from './prepare.js';
import type { StageContext, StageInput, StageResult } from './stage-io.js';
import { trainStage } from './train.js';

/** Runs one data stage (prepare, train, evaluate) with the given ports. */
export function runStage(input: StageInput, ctx: StageContext): Promise<StageResult> {
  switch (input.type) {
    case 'prepare':
      return prepareStage(input, ctx);
    case 'train':
      return trainStage(input, ctx);
    case 'evaluate':
      return evaluateStage(input, ctx);
  }
}
