import { ensurePgliteTemplate } from '../../src/adapters/pglite/pglite-template.js';

/** Once per test run: the PGlite template, so each suite's in-memory database starts quickly. */
export default async function setup(): Promise<void> {
  await ensurePgliteTemplate();
}
