import type { EpochMetrics } from '../ports/trainer.js';
import type { StageInput, StageResult } from './stages/stage-io.js';

/** What the worker sends a task process: one stage to run, and where the artifacts live. */
export interface RunMessage {
  kind: 'run';
  input: StageInput;
  artifactsDir: string;
}

/** What a task process sends back while and after it runs its stage. */
export type TaskProcessMessage =
  | { kind: 'log'; line: string }
  | { kind: 'progress'; metrics: EpochMetrics }
  | { kind: 'done'; result: StageResult }
  | { kind: 'error'; message: string };
