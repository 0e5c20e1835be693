import { badRequest } from '../../kernel/errors.js';

/** What a caller requires of the chosen model. */
export interface SelectionConstraints {
  maxLatencyMs?: number;
  minAccuracy?: number;
}

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s)?$/;
const ACCURACY = /^(\d+(?:\.\d+)?)\s*(%)?$/;

/**
 * Reads `maxLatency` (milliseconds: `250`, `250ms`, `1.5s`) and `minAccuracy` (`0.95` or `95%`)
 * from a query string; throws 400 `invalid_constraint` naming the parameter otherwise.
 */
export function parseSelectionConstraints(query: Record<string, unknown>): SelectionConstraints {
  const out: SelectionConstraints = {};
  const latency = single(query.maxLatency, 'maxLatency');
  if (latency !== undefined) out.maxLatencyMs = parseLatency(latency);
  const accuracy = single(query.minAccuracy, 'minAccuracy');
  if (accuracy !== undefined) out.minAccuracy = parseAccuracy(accuracy);
  return out;
}

function single(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) {
    if (value.length === 1) return single(value[0], name);
    throw badRequest('invalid_constraint', `${name} is given ${value.length} times; give it once`);
  }
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') throw badRequest('invalid_constraint', `${name} must be a number`);
  return value.trim();
}

function parseLatency(raw: string): number {
  const match = DURATION.exec(raw);
  const value = match ? Number(match[1]) * (match[2] === 's' ? 1000 : 1) : Number.NaN;
  if (!Number.isFinite(value) || value <= 0 || value > 3_600_000) {
    throw badRequest(
      'invalid_constraint',
      `maxLatency must be a duration above 0 and at most 1 h, like 250, 250ms or 1.5s; got '${raw}'`,
    );
  }
  return value;
}

function parseAccuracy(raw: string): number {
  const match = ACCURACY.exec(raw);
  const value = match ? Number(match[1]) / (match[2] ? 100 : 1) : Number.NaN;
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw badRequest(
      'invalid_constraint',
      `minAccuracy must be a fraction from 0 to 1 (0.95) or a percentage (95%); got '${raw}'`,
    );
  }
  return value;
}
