import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AimeshError } from '../../src/kernel/errors.js';
import { type FilterNode, parseFilter } from '../../src/registry/run-filter.js';
import { compileFilter } from '../../src/registry/run-filter-sql.js';

type Compare = Extract<FilterNode, { kind: 'compare' }>;

const name = fc
  .stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,11}$/)
  .filter((n) => !['and', 'or'].includes(n.toLowerCase()));
const numberValue = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 });
const stringValue = fc.string({ maxLength: 12 });
const comparison: fc.Arbitrary<Compare> = fc.oneof(
  fc.record({
    kind: fc.constant('compare' as const),
    scope: fc.constant('metrics' as const),
    key: name,
    op: fc.constantFrom('=', '!=', '<', '<=', '>', '>=' as const),
    value: numberValue,
    position: fc.constant(0),
  }),
  fc.record({
    kind: fc.constant('compare' as const),
    scope: fc.constantFrom('params' as const, 'tags' as const),
    key: name,
    op: fc.constantFrom('=' as const, '!=' as const),
    value: fc.oneof(numberValue, stringValue),
    position: fc.constant(0),
  }),
  fc.record({
    kind: fc.constant('compare' as const),
    scope: fc.constant('attributes' as const),
    key: fc.constantFrom('status', 'name', 'created_by'),
    op: fc.constantFrom('=' as const, '!=' as const),
    value: stringValue,
    position: fc.constant(0),
  }),
);
const tree: fc.Arbitrary<FilterNode> = fc.letrec<{ node: FilterNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    comparison,
    fc.record({
      kind: fc.constantFrom('and' as const, 'or' as const),
      left: tie('node'),
      right: tie('node'),
    }),
  ),
})).node;

/** Prints a tree fully parenthesised, so the text has exactly one parse. */
function print(node: FilterNode): string {
  if (node.kind !== 'compare') return `(${print(node.left)} ${node.kind} ${print(node.right)})`;
  const value = typeof node.value === 'number' ? String(node.value) : `'${node.value.replaceAll("'", "''")}'`;
  return `${node.scope}.${node.key} ${node.op} ${value}`;
}

/** The tree without source positions, for comparing shapes. */
function shape(node: FilterNode): unknown {
  if (node.kind !== 'compare') return { kind: node.kind, left: shape(node.left), right: shape(node.right) };
  const { position: _position, ...rest } = node;
  return { ...rest, value: Object.is(rest.value, -0) ? 0 : rest.value };
}

describe('run filter parser', () => {
  it('parses the documented example', () => {
    expect(shape(parseFilter('metrics.accuracy > 0.9 and params.learningRate = 0.01'))).toEqual({
      kind: 'and',
      left: { kind: 'compare', scope: 'metrics', key: 'accuracy', op: '>', value: 0.9 },
      right: { kind: 'compare', scope: 'params', key: 'learningRate', op: '=', value: 0.01 },
    });
  });

  it('binds "and" tighter than "or"', () => {
    const parsed = parseFilter('tags.a = 1 or tags.b = 2 AND tags.c = 3');
    expect(parsed.kind).toBe('or');
    expect(parsed.kind === 'or' && parsed.right.kind).toBe('and');
  });

  it('reads back every printed filter as the same tree', () => {
    fc.assert(
      fc.property(tree, (t) => {
        expect(shape(parseFilter(print(t)))).toEqual(shape(t));
      }),
      { numRuns: 300 },
    );
  });

  it('rejects any input only with a 400 invalid_filter naming a position inside the input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 40 }),
          tree.map(print).map((s) => s.slice(0, -1)),
        ),
        (input) => {
          try {
            parseFilter(input);
          } catch (error) {
            expect(error).toBeInstanceOf(AimeshError);
            const e = error as AimeshError;
            expect(e.status).toBe(400);
            expect(e.code).toBe('invalid_filter');
            const { position } = e.details as { position: number };
            expect(position).toBeGreaterThanOrEqual(0);
            expect(position).toBeLessThanOrEqual(input.length);
            expect(e.message).toMatch(/^filter error at position \d+: /);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it.each([
    ['', 1, 'empty'],
    ['metrics.accuracy >> 0.9', 19, 'expected a number'],
    ['metrics.accuracy > 0.9 and', 27, 'expected metrics'],
    ['metric.accuracy > 0.9 or (params.lr = 1', 40, 'expected ")"'],
    ["metrics.accuracy > 'high'", 20, 'metrics compare with numbers'],
    ["params.opt > 'adam'", 12, 'strings compare only with = and !='],
    ['attributes.colour = 1', 1, 'unknown attribute'],
    ['metrics.accuracy > 0.9 0.8', 24, 'expected "and", "or"'],
    ["tags.x = 'open", 10, 'unterminated string'],
    ['metrics.accuracy ~ 1', 18, 'unexpected character'],
  ])('rejects %j at position %i', (input, position, message) => {
    expect(() => parseFilter(input)).toThrowError(
      expect.objectContaining({
        code: 'invalid_filter',
        message: expect.stringContaining(`position ${position}: `),
      }),
    );
    expect(() => parseFilter(input)).toThrowError(message);
  });

  it('compiles values and names only into parameters, never into the SQL text', () => {
    fc.assert(
      fc.property(tree, fc.integer({ min: 1, max: 20 }), (t, first) => {
        const compiled = compileFilter(t, first);
        const values: unknown[] = [];
        const collect = (n: FilterNode) => {
          if (n.kind !== 'compare') {
            collect(n.left);
            collect(n.right);
          } else if (n.scope !== 'attributes')
            values.push(n.key, n.scope === 'tags' ? String(n.value) : n.value);
          else values.push(String(n.value));
        };
        collect(t);
        expect(compiled.params).toEqual(values);
        const placeholders = [...compiled.sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1]));
        expect(new Set(placeholders)).toEqual(new Set(values.map((_, i) => first + i)));
        expect(compiled.sql).not.toContain("'");
      }),
      { numRuns: 300 },
    );
  });
});
