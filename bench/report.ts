import { mkdirSync, writeFileSync } from 'node:fs';

/** A benchmark's final word: one JSON line on stdout, also written to bench/results/<name>.json. */
export function report(bench: string, figures: Record<string, unknown>, target: string, met: boolean): void {
  const line = JSON.stringify({ bench, figures, target, met });
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(`${bench}.json`, dir), `${line}\n`);
  console.log(line);
}

/** The q-quantile (0..1) of unsorted samples. */
export function quantile(samples: number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
