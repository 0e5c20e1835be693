import { placeholderModule } from '../core/module.js';

/** The inference module. */
export const inferenceModule = placeholderModule('inference', ['discovery', 'registry'], 'the model server');
