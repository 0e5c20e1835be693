import { placeholderModule } from '../core/module.js';

/** The registry module. */
export const registryModule = placeholderModule('registry', [], 'the model and dataset registry');
