import type { Registry } from 'prom-client';

/**
 * Counters and histograms for per-request hot paths, exported through prom-client's registry in
 * the same text as prom-client's own. prom-client checks and hashes the label set on every
 * `inc`/`observe`, even through a labelled child; here a caller keeps the series handle for its
 * label values (one map lookup it does itself) and a call is plain arithmetic.
 */
interface Exported {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: {
    value: number;
    labels: Record<string, string | number>;
    sharedLabels?: Record<string, string>;
    metricName?: string;
    exemplar?: null;
  }[];
  aggregator: 'sum';
}

interface Options<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  registers: Registry[];
  /** Most label sets kept; beyond it new ones count in one series whose labels are all `other`. */
  maxSeries?: number;
}

const OTHER = 'other';

/** A counter series: add to it. */
export interface CounterSeries {
  inc(by?: number): void;
}

/** A histogram series: observe values into it. */
export interface HistogramSeries {
  observe(value: number): void;
}

abstract class HotMetric<L extends string, S> {
  readonly name: string;
  readonly help: string;
  protected readonly series = new Map<string, { labels: Record<L, string>; series: S }>();
  private readonly labelNames: readonly L[];
  private readonly maxSeries: number;

  constructor(options: Options<L>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.maxSeries = options.maxSeries ?? 10_000;
    // prom-client's registry takes any object with a name, get() and reset().
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  /** The series for these label values; keep it where the same labels come again. */
  labels(...values: string[]): S {
    const key = values.join('\u0000');
    const found = this.series.get(key);
    if (found) return found.series;
    // Label values from outside (instance ids, model names) must not grow memory without bound.
    if (this.series.size >= this.maxSeries) {
      const other = this.labelNames.map(() => OTHER);
      const otherKey = other.join('\u0000');
      return (this.series.get(otherKey) ?? this.add(otherKey, other)).series;
    }
    return this.add(key, values).series;
  }

  private add(key: string, values: string[]): { labels: Record<L, string>; series: S } {
    const labels = {} as Record<L, string>;
    this.labelNames.forEach((name, i) => {
      labels[name] = values[i] ?? '';
    });
    const entry = { labels, series: this.create() };
    this.series.set(key, entry);
    return entry;
  }

  /** Bumped by every `reset`: a series handle kept from before belongs to no exported series. */
  generation = 0;

  reset(): void {
    this.generation += 1;
    this.series.clear();
  }

  protected abstract create(): S;
}

class Count implements CounterSeries {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

/** A labelled counter. */
export class HotCounter<L extends string> extends HotMetric<L, CounterSeries> {
  readonly type = 'counter';

  async get(): Promise<Exported> {
    const values: Exported['values'] = [];
    for (const { labels, series } of this.series.values()) {
      values.push({ value: (series as Count).value, labels });
    }
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' };
  }

  protected create(): CounterSeries {
    return new Count();
  }
}

class Buckets implements HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        this.counts[i] += 1;
        break;
      }
    }
    this.sum += value;
    this.count += 1;
  }
}

/** A labelled histogram with fixed upper bounds. */
export class HotHistogram<L extends string> extends HotMetric<L, HistogramSeries> {
  readonly type = 'histogram';
  private readonly bounds: readonly number[];

  constructor(options: Options<L> & { buckets: readonly number[] }) {
    super(options);
    this.bounds = [...options.buckets].sort((a, b) => a - b);
  }

  /** The export as the JSON API gives it: each value's labels in one set. */
  async get(): Promise<Exported> {
    const exported = await this.getForPromString();
    for (const v of exported.values) {
      v.labels = { ...v.labels, ...v.sharedLabels };
      delete v.sharedLabels;
    }
    return exported;
  }

  /** The export as the text format wants it: the series labels shared by its lines. */
  async getForPromString(): Promise<Exported> {
    const values: Exported['values'] = [];
    const bucket = `${this.name}_bucket`;
    for (const { labels, series } of this.series.values()) {
      const b = series as Buckets;
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += b.counts[i];
        values.push({
          labels: { le: this.bounds[i] },
          sharedLabels: labels,
          value: cumulative,
          metricName: bucket,
          exemplar: null,
        });
      }
      values.push({
        labels: { le: '+Inf' },
        sharedLabels: labels,
        value: b.count,
        metricName: bucket,
        exemplar: null,
      });
      values.push({ labels: {}, sharedLabels: labels, value: b.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: labels, value: b.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }

  protected create(): HistogramSeries {
    return new Buckets(this.bounds);
  }
}
