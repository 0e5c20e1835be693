#!/usr/bin/env node
// aimesh runs from its TypeScript source; tsx compiles each file on first load (cached).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
