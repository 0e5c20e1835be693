import { badRequest } from './errors.js';

/**
 * How deep a JSON body may nest. No API of aimesh needs more than a handful of levels; the bound
 * keeps recursive code downstream (serialisers, validators, `jsonb`) far from its stack limit.
 */
export const MAX_JSON_DEPTH = 64;

// ES2024's String.prototype.isWellFormed (Node 20+), not yet in the ES2022 lib we compile against.
type WellFormedCheck = string & { isWellFormed(): boolean };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Why PostgreSQL could not store `text`, or undefined when it can: NUL (no `text` or `jsonb`
 * value may hold it, SQLSTATE 22021 / 22P05) and lone UTF-16 surrogates (not encodable as UTF-8).
 */
export function unstorableText(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000)';
  if (!(text as WellFormedCheck).isWellFormed()) return 'contains a lone UTF-16 surrogate';
  return undefined;
}

/**
 * Parses a JSON request body under the platform's input rules: valid UTF-8, valid JSON, at most
 * `maxDepth` levels of arrays and objects, every string (keys too) storable in PostgreSQL, every
 * number finite, no `__proto__` or `constructor.prototype` keys. Throws a 400 naming the place.
 */
export function parseJsonBody(raw: Uint8Array, maxDepth = MAX_JSON_DEPTH): unknown {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw badRequest('invalid_encoding', 'request body is not valid UTF-8');
  }
  if (text.trim().length === 0) {
    throw badRequest('empty_body', "Body cannot be empty when content-type is set to 'application/json'");
  }
  let value: unknown;
  try {
    // V8 parses iteratively: a deeply nested body costs time bounded by the body limit, never the stack.
    value = JSON.parse(text);
  } catch (error) {
    throw badRequest('invalid_json', `request body is not valid JSON: ${(error as Error).message}`);
  }
  inspect(value, 0, maxDepth, []);
  return value;
}

/**
 * Checks the decoded query string and path parameters: strings storable (as in bodies), numbers
 * (after schema coercion) finite and, when integral, within ±(2^53 − 1) so none loses digits.
 */
export function checkRequestValues(where: 'querystring' | 'params', values: unknown): void {
  if (typeof values !== 'object' || values === null) return;
  for (const key in values) {
    const value = (values as Record<string, unknown>)[key];
    const items = Array.isArray(value) ? value : [value];
    for (const item of items) {
      if (typeof item === 'string') {
        const reason = unstorableText(item);
        if (reason) throw badRequest('invalid_character', `${where}/${key} ${reason}`);
      } else if (typeof item === 'number' && !safeNumber(item)) {
        throw badRequest('number_out_of_range', `${where}/${key} is out of range (${item})`);
      }
    }
    if (unstorableText(key)) throw badRequest('invalid_character', `a ${where} name is not storable text`);
  }
}

function safeNumber(n: number): boolean {
  return Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n));
}

// Recursion is bounded by maxDepth, so the stack stays small whatever the input.
function inspect(value: unknown, depth: number, maxDepth: number, path: (string | number)[]): void {
  if (typeof value === 'string') {
    const reason = unstorableText(value);
    if (reason) throw badRequest('invalid_character', `${at(path)} ${reason}`);
    return;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw badRequest('number_out_of_range', `${at(path)} is not a finite number`);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  if (depth >= maxDepth) {
    throw badRequest('json_too_deep', `request body nests deeper than ${maxDepth} levels at ${at(path)}`);
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      inspect(value[i], depth + 1, maxDepth, path);
      path.pop();
    }
    return;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const reason = unstorableText(key);
    if (reason) throw badRequest('invalid_character', `a key in ${at(path)} ${reason}`);
    const item = record[key];
    // What secure-json-parse (Fastify's default) refuses: keys that reach Object.prototype on a merge.
    if (
      key === '__proto__' ||
      (key === 'constructor' && typeof item === 'object' && item !== null && 'prototype' in item)
    ) {
      throw badRequest('invalid_json', `request body has a forbidden prototype property at ${at(path)}`);
    }
    path.push(key);
    inspect(item, depth + 1, maxDepth, path);
    path.pop();
  }
}

function at(path: (string | number)[]): string {
  if (path.length === 0) return 'body';
  const shown = path.length > 8 ? [...path.slice(0, 8), '…'] : path;
  return `body/${shown.join('/')}`;
}
