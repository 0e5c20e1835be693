#!/usr/bin/env node
// Run by `npm ci` (postinstall): makes the PGlite template cluster that fresh embedded
// databases start from. Never fails the install: without a template PGlite runs initdb.
import { register } from 'tsx/esm/api';

try {
  register();
  const { ensurePgliteTemplate } = await import('../src/adapters/pglite/pglite-template.ts');
  console.log(`aimesh: PGlite template at ${await ensurePgliteTemplate()}`);
} catch (error) {
  console.warn(`aimesh: no PGlite template (${error.message}); fresh databases will run initdb`);
}
