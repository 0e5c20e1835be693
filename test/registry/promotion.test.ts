import { describe, expect, it } from 'vitest';
import { readSection } from '../../src/kernel/config.js';
import { RegistryConfig } from '../../src/registry/config.js';
import { checkPromotion, describeRule } from '../../src/registry/promotion.js';

const seedRules = readSection(RegistryConfig, {}, '/registry').promotion.rules;
const version = (n: number, metrics: Record<string, number>) => ({ version: n, metrics });

describe('Promotion rules', () => {
  it('are, in the seed, one rule: accuracy strictly above 0.95 for every alias', () => {
    expect(seedRules).toEqual([{ metric: 'accuracy', greaterThan: 0.95 }]);
    expect(describeRule(seedRules[0])).toBe('accuracy > 0.95');
  });

  it('refuse accuracy of exactly 0.95 and admit anything above it', () => {
    expect(checkPromotion(seedRules, 'production', version(2, { accuracy: 0.95 }))).toEqual([
      { rule: 'accuracy > 0.95', reason: 'version 2 has accuracy 0.95' },
    ]);
    expect(checkPromotion(seedRules, 'production', version(2, { accuracy: 0.9501 }))).toEqual([]);
    expect(checkPromotion(seedRules, 'staging', version(2, { accuracy: 0.5 }))).toHaveLength(1);
  });

  it('refuse a version without the metric, or with one that is not a finite number', () => {
    for (const metrics of <Record<string, number>[]>[
      {},
      { loss: 0.1 },
      { accuracy: Number.NaN },
      { accuracy: Number.POSITIVE_INFINITY },
    ]) {
      expect(checkPromotion(seedRules, 'production', version(3, metrics))).toEqual([
        { rule: 'accuracy > 0.95', reason: 'version 3 has no accuracy metric' },
      ]);
    }
  });

  it('apply a rule naming aliases only to those aliases', () => {
    const rules = [{ metric: 'accuracy', greaterThan: 0.9, aliases: ['production'] }];
    expect(checkPromotion(rules, 'staging', version(1, { accuracy: 0.1 }))).toEqual([]);
    expect(checkPromotion(rules, 'production', version(1, { accuracy: 0.1 }))).toHaveLength(1);
  });

  it('require an improvement on the holder strictly greater than improvesBy, and pass without a holder', () => {
    // Binary fractions, so the difference is exactly the margin.
    const rules = [{ metric: 'f1', improvesBy: 0.25 }];
    expect(describeRule(rules[0])).toBe('f1 improves on the alias holder by > 0.25');
    const holder = version(4, { f1: 0.5 });
    expect(checkPromotion(rules, 'production', version(5, { f1: 0.875 }), holder)).toEqual([]);
    expect(checkPromotion(rules, 'production', version(5, { f1: 0.75 }), holder)).toEqual([
      {
        rule: 'f1 improves on the alias holder by > 0.25',
        reason: 'version 5 has f1 0.75; the holder, version 4, has 0.5',
      },
    ]);
    expect(checkPromotion(rules, 'production', version(5, { f1: 0.1 }))).toEqual([]);
    // A holder that never recorded the metric cannot be beaten or lost to.
    expect(checkPromotion(rules, 'production', version(5, { f1: 0.1 }), version(4, {}))).toEqual([]);
  });

  it('compare with the holder only in rules that ask for an improvement', () => {
    expect(
      checkPromotion(seedRules, 'production', version(5, { accuracy: 0.97 }), version(4, { accuracy: 0.99 })),
    ).toEqual([]);
  });

  it('check every rule and report each that fails, in words', () => {
    const rules = [
      { metric: 'accuracy', greaterThan: 0.9, improvesBy: 0.01 },
      { metric: 'latency' },
      { metric: 'f1', greaterThan: 0.8 },
    ];
    expect(describeRule(rules[0])).toBe('accuracy > 0.9 and accuracy improves on the alias holder by > 0.01');
    expect(describeRule(rules[1])).toBe('latency is recorded');
    const failures = checkPromotion(
      rules,
      'production',
      version(7, { accuracy: 0.95, f1: 0.7 }),
      version(6, { accuracy: 0.945 }),
    );
    expect(failures).toEqual([
      {
        rule: 'accuracy > 0.9 and accuracy improves on the alias holder by > 0.01',
        reason: 'version 7 has accuracy 0.95; the holder, version 6, has 0.945',
      },
      { rule: 'latency is recorded', reason: 'version 7 has no latency metric' },
      { rule: 'f1 > 0.8', reason: 'version 7 has f1 0.7' },
    ]);
    // Below the floor, the improvement is not checked as well.
    expect(
      checkPromotion(
        rules.slice(0, 1),
        'production',
        version(7, { accuracy: 0.5 }),
        version(6, { accuracy: 0.1 }),
      ),
    ).toEqual([
      {
        rule: 'accuracy > 0.9 and accuracy improves on the alias holder by > 0.01',
        reason: 'version 7 has accuracy 0.5',
      },
    ]);
  });
});
