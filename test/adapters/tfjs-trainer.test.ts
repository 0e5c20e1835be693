import { describe, expect, it } from 'vitest';
import { tfjsTrainer } from '../../src/adapters/tfjs/tfjs-trainer.js';
import type { EpochMetrics, TrainingJob } from '../../src/ports/trainer.js';

// Two well-separated classes: a few epochs at a high learning rate bring the loss far down.
const rows = Array.from({ length: 40 }, (_, i) => [
  i % 2 === 0 ? -2 - (i % 5) / 10 : 2 + (i % 5) / 10,
  (i % 7) / 7,
]);
const job = (epochs: number, hiddenLayers = [8]): TrainingJob => ({
  params: { learningRate: 0.1, batchSize: 8, epochs, dropout: 0, hiddenLayers, seed: 3 },
  classes: 2,
  train: { x: rows, y: rows.map((_, i) => i % 2) },
  validation: { x: rows.slice(0, 10), y: rows.slice(0, 10).map((_, i) => i % 2) },
  normalisation: { mean: [0, 0], std: [1, 1] },
});

async function train(j: TrainingJob) {
  const history: EpochMetrics[] = [];
  const model = await tfjsTrainer.train(j, (m) => history.push(m));
  return { model, history };
}

describe('the TF.js trainer continuing from a checkpoint', () => {
  it('trains only the epochs after the checkpoint, from its weights', async () => {
    const fresh = await train(job(6));
    const first = await train(job(3));
    const continued = await train({ ...job(6), initial: { files: first.model.checkpoint, epochs: 3 } });
    expect(continued.history.map((m) => m.epoch)).toEqual([4, 5, 6]);
    // Its first epoch starts where the checkpoint left off, not from fresh weights.
    expect(continued.history[0].loss).toBeLessThan(fresh.history[0].loss / 2);
    expect(continued.history[0].loss).toBeLessThan(first.history[0].loss / 2);
  }, 60_000);

  it('refuses a checkpoint of another architecture', async () => {
    const first = await train(job(2, [8]));
    await expect(
      train({ ...job(4, [8, 4]), initial: { files: first.model.checkpoint, epochs: 2 } }),
    ).rejects.toThrow(/architecture/);
  }, 60_000);
});
