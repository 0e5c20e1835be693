import type { ArtifactStore } from '../../ports/artifact-store.js';
import type { EpochMetrics, Trainer } from '../../ports/trainer.js';

/** What a stage run in a task process receives. */
export interface StageInput {
  type: 'prepare' | 'train' | 'evaluate';
  executionId: string;
  stage: string;
  params: Record<string, unknown>;
  seed: number;
  dataset: { name: string; version: string; uri: string };
  /** Outputs of the execution's finished stages, by stage name. */
  outputs: Record<string, Record<string, unknown>>;
}

/** What a stage produces: an output later stages read, and metrics for the API. */
export interface StageResult {
  output: Record<string, unknown>;
  metrics: Record<string, unknown>;
}

/** The ports a stage uses, and how it reports. */
export interface StageContext {
  trainer: Trainer;
  artifacts: ArtifactStore;
  log(line: string): void;
  progress(metrics: EpochMetrics): void;
}

/** The data a prepare stage writes: splits of raw features with class indices, and the normalisation. */
export interface PreparedData {
  features: string[];
  label: string;
  classes: string[];
  mean: number[];
  std: number[];
  train: { x: number[][]; y: number[] };
  validation: { x: number[][]; y: number[] };
  test: { x: number[][]; y: number[] };
}

/** The output of the stage of type `type` among the finished ones (the last defined wins). */
export function outputOfType(input: StageInput, key: string): Record<string, unknown> {
  const found = Object.values(input.outputs).filter((o) => key in o);
  const output = found.at(-1);
  if (!output) throw new Error(`stage ${input.stage} needs a finished stage that produced ${key}`);
  return output;
}

/** Reads a JSON artifact. */
export async function readJson<T>(artifacts: ArtifactStore, uri: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await artifacts.get(uri))) as T;
}

/** A number param within bounds, or its default. */
export function numberParam(
  params: Record<string, unknown>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = params[name] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max)
    throw new Error(`params.${name} must be a number in [${min}, ${max}], got ${JSON.stringify(value)}`);
  return value;
}
