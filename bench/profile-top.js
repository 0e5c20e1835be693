#!/usr/bin/env node
// Where a measured process's CPU goes per call, from the profiles BENCH_CPU_PROF writes:
//   node bench/profile-top.js bench/results/profiles/<role> [label prefix] [--top N]
// Sums every <label>.cpuprofile in the folder whose label starts with the prefix (a scenario's
// name, e.g. native-pg-events), divides each function's self time by the requests those loads
// served (<label>.json), and prints the top functions and the same time by area (aimesh folder,
// package, Node internals). Idle time is left out: it is waiting, not cost.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25;
const [dir, prefix = ''] = args;
if (!dir) {
  console.error('usage: node bench/profile-top.js <profile dir> [label prefix] [--top N]');
  process.exit(2);
}
const root = fileURLToPath(new URL('..', import.meta.url));

/** A short place for a script URL: repository-relative, a package's own path, or Node's module name. */
function place(url) {
  if (!url) return '';
  const path = url.replace(/^file:\/\//, '');
  const inModules = path.lastIndexOf('/node_modules/');
  if (inModules >= 0) return path.slice(inModules + '/node_modules/'.length);
  return path.startsWith(root) ? path.slice(root.length) : path;
}

/** What a function belongs to: an aimesh folder, a package, a part of Node, or V8's own categories. */
function area(functionName, url) {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const where = place(url);
  if (url.includes('/node_modules/')) {
    const parts = where.split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (where.startsWith('node:')) return where.replace(/^node:(internal\/)?/, 'node:').split('/')[0];
  return where.split('/').slice(0, -1).join('/') || where;
}

const selfMicros = new Map();
let requests = 0;
let busy = 0;
let idle = 0;
const labels = readdirSync(dir)
  .filter((f) => f.endsWith('.cpuprofile') && f.startsWith(prefix))
  .map((f) => f.slice(0, -'.cpuprofile'.length));
for (const label of labels) {
  const profile = JSON.parse(readFileSync(join(dir, `${label}.cpuprofile`), 'utf8'));
  requests += JSON.parse(readFileSync(join(dir, `${label}.json`), 'utf8')).requests;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Each sample stands for the time until the next one (as Chrome's DevTools counts it).
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]);
    const micros = profile.timeDeltas[i + 1] ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += micros;
      continue;
    }
    busy += micros;
    const key = JSON.stringify([functionName || '(anonymous)', url, lineNumber]);
    selfMicros.set(key, (selfMicros.get(key) ?? 0) + micros);
  }
}
if (labels.length === 0 || requests === 0) {
  console.error(`no profiles${prefix ? ` starting with ${prefix}` : ''} in ${dir}`);
  process.exit(1);
}

const perCall = (micros) => (micros / requests).toFixed(2).padStart(8);
const share = (micros) => `${((100 * micros) / busy).toFixed(1).padStart(5)} %`;
console.log(
  `${labels.length} loads, ${requests} requests: ${(busy / requests).toFixed(1)} µs of CPU per call sampled (idle ${(idle / requests).toFixed(1)} µs)`,
);
const areas = new Map();
for (const [key, micros] of selfMicros) {
  const [name, url] = JSON.parse(key);
  const a = area(name, url);
  areas.set(a, (areas.get(a) ?? 0) + micros);
}
const owners = new Map();
for (const [a, micros] of areas) {
  const owner = a.startsWith('src')
    ? 'aimesh (src/)'
    : a.startsWith('node:')
      ? 'Node (JS)'
      : a.startsWith('(')
        ? a
        : a.startsWith('bench') || a.includes('://')
          ? a
          : 'packages';
  owners.set(owner, (owners.get(owner) ?? 0) + micros);
}
console.log('\nby owner (self time)      µs/call  share');
for (const [o, micros] of [...owners].sort((x, y) => y[1] - x[1]))
  console.log(`  ${o.padEnd(22)} ${perCall(micros)} ${share(micros)}`);
console.log('\nby area (self time)       µs/call  share');
for (const [a, micros] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, top))
  console.log(`  ${a.padEnd(22)} ${perCall(micros)} ${share(micros)}`);
console.log('\ntop functions (self time)  µs/call  share');
for (const [key, micros] of [...selfMicros].sort((x, y) => y[1] - x[1]).slice(0, top)) {
  const [name, url, line] = JSON.parse(key);
  console.log(`  ${perCall(micros)} ${share(micros)}  ${name}  ${url ? `${place(url)}:${line + 1}` : ''}`);
}
