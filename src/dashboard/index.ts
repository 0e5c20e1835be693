import { placeholderModule } from '../kernel/module.js';

/** The dashboard module. */
export const dashboardModule = placeholderModule('dashboard', ['events'], 'the dashboard');
