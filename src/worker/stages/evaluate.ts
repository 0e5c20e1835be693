import {
  outputOfType,
  type PreparedData,
  readJson,
  type StageContext,
  type StageInput,
  type StageResult,
} from './stage-io.js';

/** Accuracy, per-class and macro precision/recall/F1, and the confusion matrix (rows: true class). */
export function classificationMetrics(truth: number[], predicted: number[], classes: number) {
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  truth.forEach((t, i) => {
    matrix[t][predicted[i]]++;
  });
  const correct = truth.filter((t, i) => t === predicted[i]).length;
  const perClass = matrix.map((row, c) => {
    const tp = row[c];
    const fp = matrix.reduce((s, r, i) => (i === c ? s : s + r[c]), 0);
    const fn = row.reduce((s, v, i) => (i === c ? s : s + v), 0);
    const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
    const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { precision, recall, f1, support: tp + fn };
  });
  const macro = (k: 'precision' | 'recall' | 'f1') => perClass.reduce((s, c) => s + c[k], 0) / classes;
  return {
    accuracy: truth.length === 0 ? 0 : correct / truth.length,
    precision: macro('precision'),
    recall: macro('recall'),
    f1: macro('f1'),
    perClass,
    confusionMatrix: matrix,
  };
}

/** Scores the trained model on the held-out test split, which training never saw. */
export async function evaluateStage(input: StageInput, ctx: StageContext): Promise<StageResult> {
  const data = await readJson<PreparedData>(ctx.artifacts, String(outputOfType(input, 'dataUri').dataUri));
  const modelUri = String(outputOfType(input, 'modelUri').modelUri);
  const files: Record<string, Uint8Array> = {};
  for (const name of ['model.json', 'weights.bin']) files[name] = await ctx.artifacts.get(modelUri + name);
  const probabilities = await ctx.trainer.predict(files, data.test.x);
  const predicted = probabilities.map((p) => p.indexOf(Math.max(...p)));
  const m = classificationMetrics(data.test.y, predicted, data.classes.length);
  ctx.log(
    `evaluated on ${data.test.x.length} held-out rows: accuracy ${m.accuracy.toFixed(4)}, macro F1 ${m.f1.toFixed(4)}`,
  );
  const output = { evaluation: { accuracy: m.accuracy, precision: m.precision, recall: m.recall, f1: m.f1 } };
  return {
    output,
    metrics: {
      ...output.evaluation,
      classes: data.classes,
      perClass: m.perClass,
      confusionMatrix: m.confusionMatrix,
    },
  };
}
