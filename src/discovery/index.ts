import { placeholderModule } from '../core/module.js';

/** The discovery module. */
export const discoveryModule = placeholderModule('discovery', [], 'service discovery');
