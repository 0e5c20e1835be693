import { badRequest } from '../../kernel/errors.js';
import type { Random } from '../../kernel/random.js';

/** A value a trial parameter takes. */
export type ParamValue = number | string | boolean;
/** One trial's parameters, by name. */
export type TrialParams = Record<string, ParamValue>;

/**
 * One dimension of a search space: a list (the grid's values; sampled uniformly by random
 * search), choices (the same, spelt out), a uniform or integer range, or a log-uniform range.
 */
export type Dimension =
  | { kind: 'list'; values: ParamValue[] }
  | { kind: 'uniform'; min: number; max: number }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'logUniform'; min: number; max: number };

/** A search space: its dimensions by parameter name, in a fixed (sorted) order. */
export type SearchSpace = Record<string, Dimension>;

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const MAX_DIMENSIONS = 32;
const MAX_LIST = 1_000;
/** The most points a grid may have: a larger one is refused, not run. */
export const MAX_GRID_POINTS = 100_000;

const isValue = (v: unknown): v is ParamValue =>
  (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'string' || typeof v === 'boolean';

function range(name: string, kind: string, given: unknown): { min: number; max: number } {
  if (
    !Array.isArray(given) ||
    given.length !== 2 ||
    !given.every((v) => typeof v === 'number' && Number.isFinite(v)) ||
    given[0] > given[1]
  )
    throw badRequest('invalid_search_space', `${name}: ${kind} takes [min, max] with min <= max`);
  return { min: given[0], max: given[1] };
}

/**
 * Reads a search space as a definition file or the API gives it: `name: [v1, v2]` (a list),
 * `{choices: [...]}`, `{uniform: [min, max]}`, `{int: [min, max]}`, `{logUniform: [min, max]}`.
 * 400 `invalid_search_space` naming the dimension at fault.
 */
export function readSearchSpace(input: unknown): SearchSpace {
  if (!input || typeof input !== 'object' || Array.isArray(input))
    throw badRequest('invalid_search_space', 'the search space must map parameter names to their values');
  const entries = Object.entries(input as Record<string, unknown>);
  if (entries.length === 0 || entries.length > MAX_DIMENSIONS)
    throw badRequest('invalid_search_space', `the search space needs 1 to ${MAX_DIMENSIONS} parameters`);
  const space: SearchSpace = {};
  for (const [name, given] of entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!NAME.test(name)) throw badRequest('invalid_search_space', `${name}: not a parameter name`);
    const spec =
      Array.isArray(given) || isValue(given) ? { choices: Array.isArray(given) ? given : [given] } : given;
    if (!spec || typeof spec !== 'object')
      throw badRequest('invalid_search_space', `${name}: give a list, choices or a range`);
    const keys = Object.keys(spec);
    if (keys.length !== 1)
      throw badRequest(
        'invalid_search_space',
        `${name}: give exactly one of choices, uniform, int, logUniform (got ${keys.join(', ') || 'none'})`,
      );
    const [kind] = keys;
    const value = (spec as Record<string, unknown>)[kind];
    if (kind === 'choices') {
      if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LIST || !value.every(isValue))
        throw badRequest(
          'invalid_search_space',
          `${name}: choices must be 1 to ${MAX_LIST} numbers, strings or booleans`,
        );
      const distinct = [...new Map(value.map((v) => [JSON.stringify(v), v])).values()];
      space[name] = { kind: 'list', values: distinct };
    } else if (kind === 'uniform') space[name] = { kind: 'uniform', ...range(name, kind, value) };
    else if (kind === 'int') {
      const r = range(name, kind, value);
      if (!Number.isInteger(r.min) || !Number.isInteger(r.max))
        throw badRequest('invalid_search_space', `${name}: int takes integer bounds`);
      space[name] = { kind: 'int', ...r };
    } else if (kind === 'logUniform') {
      const r = range(name, kind, value);
      if (r.min <= 0) throw badRequest('invalid_search_space', `${name}: logUniform needs min > 0`);
      space[name] = { kind: 'logUniform', ...r };
    } else
      throw badRequest(
        'invalid_search_space',
        `${name}: unknown kind ${kind}; use choices, uniform, int or logUniform`,
      );
  }
  return space;
}

/** The values of a dimension a grid walks: a list's values, an integer range's integers; null for continuous ranges. */
function gridValues(d: Dimension): ParamValue[] | null {
  if (d.kind === 'list') return d.values;
  if (d.kind === 'int' && d.max - d.min < MAX_LIST)
    return Array.from({ length: d.max - d.min + 1 }, (_, i) => d.min + i);
  return null;
}

/** The number of points of the grid over `space`; 400 when a dimension is continuous. */
export function gridSize(space: SearchSpace): number {
  let size = 1;
  for (const [name, d] of Object.entries(space)) {
    const values = gridValues(d);
    if (!values)
      throw badRequest(
        'invalid_search_space',
        `${name}: a grid needs a list or a small integer range; use random search for continuous ranges`,
      );
    size *= values.length;
  }
  return size;
}

/**
 * Point `index` of the grid over `space` (0-based; the last parameter varies fastest), or null
 * past the end. Indexing instead of materialising keeps a large grid's memory flat.
 */
export function gridPoint(space: SearchSpace, index: number): TrialParams | null {
  const size = gridSize(space);
  if (!Number.isInteger(index) || index < 0 || index >= size) return null;
  const names = Object.keys(space);
  const point: TrialParams = {};
  let rest = index;
  for (let i = names.length - 1; i >= 0; i--) {
    const values = gridValues(space[names[i]])!;
    point[names[i]] = values[rest % values.length];
    rest = Math.floor(rest / values.length);
  }
  return Object.fromEntries(names.map((n) => [n, point[n]]));
}

// Sampled floats keep 6 significant digits: two draws that print the same are the same trial.
const round = (v: number) => Number(v.toPrecision(6));

/** One random point of `space`. */
export function samplePoint(space: SearchSpace, random: Random): TrialParams {
  const point: TrialParams = {};
  for (const [name, d] of Object.entries(space)) {
    const u = random.next();
    if (d.kind === 'list')
      point[name] = d.values[Math.min(d.values.length - 1, Math.floor(u * d.values.length))];
    else if (d.kind === 'int') point[name] = Math.min(d.max, d.min + Math.floor(u * (d.max - d.min + 1)));
    else if (d.kind === 'uniform') point[name] = round(d.min + u * (d.max - d.min));
    else point[name] = round(Math.exp(Math.log(d.min) + u * (Math.log(d.max) - Math.log(d.min))));
  }
  return point;
}

/** The distinct points `space` holds, when finite (a grid's size), else Infinity. */
export function distinctPoints(space: SearchSpace): number {
  return Object.values(space).some((d) => gridValues(d) === null)
    ? Number.POSITIVE_INFINITY
    : gridSize(space);
}

/**
 * A trial's identity within its experiment: its parameters as JSON with sorted keys. The
 * database holds it unique per experiment, so no two trials ever share parameters.
 */
export function paramsKey(params: TrialParams): string {
  return JSON.stringify(
    Object.fromEntries(
      Object.keys(params)
        .sort()
        .map((k) => [k, params[k]]),
    ),
  );
}

/**
 * Reads `name=v1,v2,...` (a list) or `name=uniform:min:max` / `int:min:max` / `log:min:max`,
 * as the CLI's flags give them, into the definition-file form.
 */
export function parseDimensionFlag(flag: string): [string, unknown] {
  const eq = flag.indexOf('=');
  if (eq <= 0) throw badRequest('invalid_search_space', `${flag}: expected name=values`);
  const name = flag.slice(0, eq).trim();
  const text = flag.slice(eq + 1).trim();
  const ranged = /^(uniform|int|log|loguniform):([^:]+):([^:]+)$/i.exec(text);
  if (ranged) {
    const kind = ranged[1].toLowerCase();
    const bounds = [Number(ranged[2]), Number(ranged[3])];
    return [name, { [kind === 'uniform' ? 'uniform' : kind === 'int' ? 'int' : 'logUniform']: bounds }];
  }
  const values = text
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
  return [
    name,
    values.map((v) => {
      if (v === 'true' || v === 'false') return v === 'true';
      const n = Number(v);
      return Number.isFinite(n) ? n : v;
    }),
  ];
}
