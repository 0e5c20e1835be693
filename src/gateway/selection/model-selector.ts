import type { Clock } from '../../kernel/clock.js';
import { unprocessable } from '../../kernel/errors.js';
import type { CatalogueModel, ModelsConfig } from './config.js';
import type { SelectionConstraints } from './selection-constraints.js';

/** A model as selection sees it: its catalogue entry merged with what live traffic has shown. */
export interface ModelCandidate {
  id: string;
  version: string;
  type: string;
  upstream: string;
  accuracy: number;
  costPerCall: number;
  costPer1kTokens: number;
  /** Observed latency (EWMA), or the configured expectation before any traffic. */
  latencyMs: number;
  /** Observed calls per second, never below the configured expectation. */
  throughput: number;
}

/** A candidate with the cost it was ranked by. */
export interface RankedCandidate extends ModelCandidate {
  /** Expected price of one call: per call + tokens + the fixed hourly price spread over the throughput. */
  expectedCost: number;
}

/**
 * Where accuracy comes from. Config supplies it today; the registry (latest evaluation of the
 * version) can supply it later by implementing this and being passed to the selector.
 */
export interface AccuracySource {
  accuracyOf(modelId: string, version: string): number | undefined;
}

interface ModelState {
  model: CatalogueModel;
  latencyMs: number;
  tokensPerCall: number;
  windowStart: number;
  windowCalls: number;
  lastRate: number;
}

/** Options of a ModelSelector: the catalogue config, a clock, and optionally a better accuracy source. */
export interface ModelSelectorOptions {
  config: ModelsConfig;
  clock: Clock;
  accuracy?: AccuracySource;
}

/**
 * Cost-aware model selection: among the models of a type that meet the caller's latency and
 * accuracy constraints, the cheapest expected cost per call first.
 */
export class ModelSelector {
  private readonly byType = new Map<string, ModelState[]>();
  private readonly byId = new Map<string, ModelState>();

  constructor(private readonly options: ModelSelectorOptions) {
    const now = options.clock.now();
    for (const model of options.config.catalogue) {
      const state: ModelState = {
        model,
        latencyMs: model.latencyMs,
        tokensPerCall: model.tokensPerCall,
        windowStart: now,
        windowCalls: 0,
        lastRate: 0,
      };
      this.byId.set(model.id, state);
      const list = this.byType.get(model.type) ?? [];
      list.push(state);
      this.byType.set(model.type, list);
    }
  }

  /** Whether the catalogue lists any model of `type`. */
  hasType(type: string): boolean {
    return this.byType.has(type);
  }

  /** The type of a catalogue model; undefined when the catalogue does not list it. */
  typeOf(modelId: string): string | undefined {
    return this.byId.get(modelId)?.model.type;
  }

  /** The model types in the catalogue. */
  types(): string[] {
    return [...this.byType.keys()];
  }

  /** Ranked candidates meeting the constraints, cheapest total cost first; throws 422 `no_suitable_model`. */
  rank(type: string, constraints: SelectionConstraints): RankedCandidate[] {
    const states = this.byType.get(type);
    if (!states || states.length === 0) {
      throw unprocessable('no_suitable_model', `no model of type '${type}' is in the catalogue`, {
        type,
        constraints,
      });
    }
    const now = this.options.clock.now();
    // Ranked as they are made, by insertion: catalogues hold a few models per type, and sorting
    // them cost a work array per call.
    const fitting: RankedCandidate[] = [];
    for (const state of states) {
      const c = this.candidate(state, now);
      if (
        (constraints.maxLatencyMs === undefined || c.latencyMs <= constraints.maxLatencyMs) &&
        (constraints.minAccuracy === undefined || c.accuracy >= constraints.minAccuracy)
      ) {
        let at = fitting.length;
        fitting.push(c);
        for (; at > 0 && rankOrder(c, fitting[at - 1]) < 0; at--) fitting[at] = fitting[at - 1];
        fitting[at] = c;
      }
    }
    if (fitting.length === 0) {
      throw unprocessable(
        'no_suitable_model',
        `no model of type '${type}' meets ${describe(constraints)}; closest: ${states
          .map((state) => this.candidate(state, now))
          .map((c) => `${c.id} (${Math.round(c.latencyMs)} ms, accuracy ${c.accuracy})`)
          .join(', ')}`,
        { type, constraints },
      );
    }
    return fitting;
  }

  /** Feeds one finished call of `modelId` into its latency EWMA, throughput count and tokens per call. */
  observe(modelId: string, latencyMs: number, ok: boolean, tokens?: number): void {
    const state = this.byId.get(modelId);
    if (!state) return;
    const now = this.options.clock.now();
    this.roll(state, now);
    state.windowCalls += 1;
    const alpha = this.options.config.latencyAlpha;
    // Failures often return fast (a 503 in 2 ms); counting them would make a broken model look quick.
    if (ok && Number.isFinite(latencyMs) && latencyMs >= 0) {
      state.latencyMs = alpha * latencyMs + (1 - alpha) * state.latencyMs;
    }
    if (ok && tokens !== undefined && tokens >= 0) {
      state.tokensPerCall = alpha * tokens + (1 - alpha) * state.tokensPerCall;
    }
  }

  private candidate(state: ModelState, now: number): RankedCandidate {
    this.roll(state, now);
    const { model } = state;
    const throughput = Math.max(model.throughput, state.lastRate);
    const accuracy = this.options.accuracy?.accuracyOf(model.id, model.version) ?? model.accuracy;
    const expectedCost =
      model.costPerCall +
      (model.costPer1kTokens * state.tokensPerCall) / 1000 +
      model.costPerHour / 3600 / throughput;
    return {
      id: model.id,
      version: model.version,
      type: model.type,
      upstream: model.upstream,
      accuracy,
      costPerCall: model.costPerCall,
      costPer1kTokens: model.costPer1kTokens,
      latencyMs: state.latencyMs,
      throughput,
      expectedCost,
    };
  }

  /** Closes the throughput window when it has run out; an idle gap of two windows counts as zero. */
  private roll(state: ModelState, now: number): void {
    const windowMs = this.options.config.throughputWindowMs;
    const elapsed = now - state.windowStart;
    if (elapsed < windowMs) return;
    state.lastRate = elapsed < 2 * windowMs ? (state.windowCalls * 1000) / elapsed : 0;
    state.windowStart = now;
    state.windowCalls = 0;
  }
}

// Cheapest expected cost first; ties go to the faster model, then to the id so the order is stable.
function rankOrder(a: RankedCandidate, b: RankedCandidate): number {
  return a.expectedCost - b.expectedCost || a.latencyMs - b.latencyMs || a.id.localeCompare(b.id);
}

function describe(c: SelectionConstraints): string {
  const parts: string[] = [];
  if (c.maxLatencyMs !== undefined) parts.push(`maxLatency ${c.maxLatencyMs} ms`);
  if (c.minAccuracy !== undefined) parts.push(`minAccuracy ${c.minAccuracy}`);
  return parts.length ? parts.join(' and ') : 'no constraints (it has no models)';
}
