import { seededRandom } from '../../kernel/random.js';
import {
  numberParam,
  type PreparedData,
  type StageContext,
  type StageInput,
  type StageResult,
} from './stage-io.js';

/** Splits a CSV line on commas, honouring double-quoted fields. */
function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return cells.map((s) => s.trim());
}

function stringList(params: Record<string, unknown>, name: string): string[] {
  const value = params[name];
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string'))
    throw new Error(`params.${name} must be a non-empty list of column names`);
  return value as string[];
}

/**
 * Checks the columns, drops rows with a missing value, splits train/validation/test with a
 * seeded shuffle stratified by class (the same seed, the same split), and computes the
 * per-feature mean and standard deviation on the training split only (no test leakage).
 */
export async function prepareStage(input: StageInput, ctx: StageContext): Promise<StageResult> {
  const features = stringList(input.params, 'features');
  const label = input.params.label;
  if (typeof label !== 'string') throw new Error('params.label must name the class column');
  const validationShare = numberParam(input.params, 'validationSplit', 0.15, 0, 0.5);
  const testShare = numberParam(input.params, 'testSplit', 0.2, 0.05, 0.5);

  const text = new TextDecoder().decode(await ctx.artifacts.get(input.dataset.uri));
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  const header = splitCsvLine(lines[0] ?? '');
  const missing = [...features, label].filter((c) => !header.includes(c));
  if (missing.length > 0)
    throw new Error(`dataset ${input.dataset.name} lacks column(s) ${missing.join(', ')}`);
  const featureIndex = features.map((f) => header.indexOf(f));
  const labelIndex = header.indexOf(label);

  const byClass = new Map<string, number[][]>();
  let dropped = 0;
  for (const [n, line] of lines.slice(1).entries()) {
    const cells = splitCsvLine(line);
    const cls = cells[labelIndex] ?? '';
    const raw = featureIndex.map((i) => cells[i] ?? '');
    if (cls === '' || raw.some((v) => v === '' || v === 'NA')) {
      dropped++;
      continue;
    }
    const x = raw.map(Number);
    const bad = x.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`row ${n + 2}: ${features[bad]} is not a number (${raw[bad]})`);
    const rows = byClass.get(cls) ?? [];
    rows.push(x);
    byClass.set(cls, rows);
  }
  const classes = [...byClass.keys()].sort();
  if (classes.length < 2)
    throw new Error(`column ${label} has ${classes.length} class(es); at least 2 are needed`);

  const random = seededRandom(input.seed);
  const data: PreparedData = {
    features,
    label,
    classes,
    mean: [],
    std: [],
    train: { x: [], y: [] },
    validation: { x: [], y: [] },
    test: { x: [], y: [] },
  };
  for (const [y, cls] of classes.entries()) {
    const rows = byClass.get(cls)!;
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(random.next() * (i + 1));
      [rows[i], rows[j]] = [rows[j], rows[i]];
    }
    const nTest = Math.max(1, Math.round(rows.length * testShare));
    const nValidation = Math.round(rows.length * validationShare);
    rows.forEach((x, i) => {
      const split = i < nTest ? data.test : i < nTest + nValidation ? data.validation : data.train;
      split.x.push(x);
      split.y.push(y);
    });
  }
  const n = data.train.x.length;
  data.mean = features.map((_, j) => data.train.x.reduce((s, x) => s + x[j], 0) / n);
  data.std = features.map((_, j) => {
    const variance = data.train.x.reduce((s, x) => s + (x[j] - data.mean[j]) ** 2, 0) / n;
    return Math.sqrt(variance) || 1;
  });

  const key = `executions/${input.executionId}/${input.stage}/data.json`;
  const dataUri = await ctx.artifacts.put(key, JSON.stringify(data));
  const rows = { train: n, validation: data.validation.x.length, test: data.test.x.length, dropped };
  ctx.log(
    `prepared ${input.dataset.name}@${input.dataset.version.slice(0, 12)}: ${JSON.stringify(rows)}, classes ${classes.join(', ')}`,
  );
  return {
    output: {
      dataUri,
      dataset: input.dataset.name,
      datasetVersion: input.dataset.version,
      features,
      classes,
      rows,
    },
    metrics: { rows },
  };
}
