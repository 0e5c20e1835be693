#!/usr/bin/env node
// `npm run bench -- <name>` runs bench/<name>.ts (TypeScript, through tsx).
import { readdirSync } from 'node:fs';
import { register } from 'tsx/esm/api';

const name = process.argv[2];
const available = readdirSync(new URL('.', import.meta.url))
  .filter((f) => f.endsWith('.ts') && f !== 'report.ts')
  .map((f) => f.slice(0, -3));
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name>\navailable: ${available.join(', ') || '(none yet)'}`);
  process.exit(2);
}
register();
await import(`./${name}.ts`);
