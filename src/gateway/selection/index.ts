export { CatalogueModel, ModelsConfig } from './config.js';
export type {
  AccuracySource,
  ModelCandidate,
  ModelSelectorOptions,
  RankedCandidate,
} from './model-selector.js';
export { ModelSelector } from './model-selector.js';
export type { SelectionConstraints } from './selection-constraints.js';
export { parseSelectionConstraints } from './selection-constraints.js';
