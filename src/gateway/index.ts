import { placeholderModule } from '../core/module.js';

/** The gateway module. */
export const gatewayModule = placeholderModule('gateway', ['discovery'], 'the gateway');
