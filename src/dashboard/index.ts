import { placeholderModule } from '../core/module.js';

/** The dashboard module. */
export const dashboardModule = placeholderModule('dashboard', ['events'], 'the dashboard');
