#!/usr/bin/env node
// Run by `npm ci` (postinstall): onnxruntime-node ships its native runtime for every platform
// (about 290 MB) and loads only bin/napi-v6/<platform>/<arch>; the others are removed.
// Never fails the install: at worst the other platforms' binaries stay.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** Removes every platform/arch folder under `binDir` but `platform/arch`; returns what it removed. */
export function pruneOtherPlatforms(binDir, platform = process.platform, arch = process.arch) {
  const removed = [];
  for (const p of readdirSync(binDir)) {
    for (const a of readdirSync(join(binDir, p))) {
      if (p === platform && a === arch) continue;
      rmSync(join(binDir, p, a), { recursive: true, force: true });
      removed.push(`${p}/${a}`);
    }
    if (p !== platform) rmSync(join(binDir, p), { recursive: true, force: true });
  }
  return removed;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const binDir =
    process.argv[2] ?? new URL('../node_modules/onnxruntime-node/bin/napi-v6', import.meta.url).pathname;
  try {
    const removed = pruneOtherPlatforms(binDir);
    if (removed.length > 0) console.log(`aimesh: removed onnxruntime-node binaries of ${removed.join(', ')}`);
  } catch (error) {
    console.warn(`aimesh: onnxruntime-node binaries not pruned (${error.message})`);
  }
}
