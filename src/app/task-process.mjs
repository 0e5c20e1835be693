// Entry of a worker's task process: aimesh runs from its sources, so it registers tsx first.
import { register } from 'tsx/esm/api';

register();
await import('./task-process.ts');
