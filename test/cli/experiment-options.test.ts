import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { experimentFromOptions } from '../../src/cli/experiment-command.js';

// An experiment file naming a registered pipeline: the flags are read without a server.
const dir = mkdtempSync(join(tmpdir(), 'aimesh-experiment-options-'));
const file = join(dir, 'experiment.yaml');
writeFileSync(file, 'pipeline: iris-training\n');
const base = { file, grid: ['learningRate=0.01,0.1', 'epochs=10,30'], wait: false, interval: '1000' };
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('aimesh experiment run: flags to an experiment', () => {
  it("passes ASHA's rung metric and direction with its other settings", async () => {
    const body = await experimentFromOptions({
      ...base,
      strategy: 'asha',
      minEpochs: 10,
      reductionFactor: 3,
      ashaMetric: 'valLoss',
      ashaDirection: 'minimize',
    });
    expect(body.asha).toEqual({
      minEpochs: 10,
      reductionFactor: 3,
      metric: 'valLoss',
      direction: 'minimize',
    });
    expect(body.space).toEqual({ learningRate: [0.01, 0.1], epochs: [10, 30] });
  });

  it('sends no asha settings when no asha flag is given', async () => {
    const body = await experimentFromOptions({ ...base, strategy: 'grid' });
    expect(body).not.toHaveProperty('asha');
  });
});
