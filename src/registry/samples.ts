import { readFile } from 'node:fs/promises';
import { notFound } from '../kernel/errors.js';

/** The built-in sample data sets (see samples/SOURCES.md for where each comes from). */
export const SAMPLE_DATASETS: Record<string, { file: string; description: string }> = {
  iris: { file: 'iris.csv', description: 'Iris flowers: 4 measurements, 3 species (150 rows)' },
  penguins: {
    file: 'penguins.csv',
    description: 'Palmer penguins: measurements, species, island, sex (344 rows)',
  },
  cars: { file: 'cars.csv', description: 'Cars of 1970-1982: fuel economy and specifications (406 rows)' },
};

/** The bytes of a built-in sample; 404 for an unknown name. */
export async function readSample(name: string): Promise<Uint8Array> {
  const sample = Object.hasOwn(SAMPLE_DATASETS, name) ? SAMPLE_DATASETS[name] : undefined;
  if (!sample) {
    throw notFound(
      'sample_not_found',
      `no sample data set ${name}; known: ${Object.keys(SAMPLE_DATASETS).join(', ')}`,
    );
  }
  return new Uint8Array(await readFile(new URL(`./samples/${sample.file}`, import.meta.url)));
}
