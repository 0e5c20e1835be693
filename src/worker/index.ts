import { placeholderModule } from '../kernel/module.js';

/** The worker module. */
export const workerModule = placeholderModule('worker', [], 'the training worker');
