import { describe, expect, it } from 'vitest';
import { lossAnomaly } from '../../src/worker/index.js';

const epochs = (...losses: number[]) => losses.map((loss, i) => ({ epoch: i + 1, loss, accuracy: 0.5 }));

describe('loss anomalies a worker reports while a model trains', () => {
  it('finds nothing in a loss that falls, or rises a little', () => {
    expect(lossAnomaly([])).toBeNull();
    expect(lossAnomaly(epochs(1.2, 0.9, 0.7, 0.75, 0.6))).toBeNull();
    expect(lossAnomaly(epochs(0.5, 0.4, 1.6))).toBeNull(); // exactly 4× its lowest
  });

  it('names a loss that is not a number, at its epoch', () => {
    expect(lossAnomaly(epochs(1.1, Number.NaN))).toBe('loss is NaN at epoch 2');
    expect(lossAnomaly(epochs(Number.POSITIVE_INFINITY))).toBe('loss is Infinity at epoch 1');
  });

  it('names a loss more than 4× above its lowest after three epochs as diverging', () => {
    expect(lossAnomaly(epochs(0.5, 0.4, 1.61))).toBe(
      'loss is diverging: 1.6100 at epoch 3, 4× above its lowest 0.4000',
    );
    expect(lossAnomaly(epochs(0.5, 2.5))).toBeNull(); // too early to tell
  });
});
