// What both ASHA benchmarks search: the seed's grid over the two shipped samples.

/** The seed's grid: 81 configurations, 27 of the parameters other than epochs. */
export const SPACE = {
  learningRate: [0.001, 0.01, 0.1],
  batchSize: [32, 64, 128],
  dropout: [0.1, 0.2, 0.5],
  epochs: [10, 20, 50],
};

/** The shipped samples the benchmarks train on, with their feature columns and label. */
export const DATASETS: Record<string, { features: string[]; label: string }> = {
  iris: { features: ['sepalLength', 'sepalWidth', 'petalLength', 'petalWidth'], label: 'species' },
  penguins: { features: ['beakLengthMm', 'beakDepthMm', 'flipperLengthMm', 'bodyMassG'], label: 'species' },
};
