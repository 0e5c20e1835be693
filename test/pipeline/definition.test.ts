import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAimeshError } from '../../src/kernel/errors.js';
import { parseDefinitionText, readDefinition } from '../../src/pipeline/index.js';

const base = {
  name: 'p',
  dataset: { name: 'iris' },
  model: { name: 'm' },
  stages: [{ name: 'a', type: 'prepare' }],
};
const problem = (input: unknown) => {
  try {
    readDefinition(input);
  } catch (error) {
    if (isAimeshError(error)) return { status: error.status, code: error.code, message: error.message };
    throw error;
  }
  return undefined;
};

describe('pipeline definitions', () => {
  it('fills the defaults: resources, retries, timeout, priority, seed, dataset version', () => {
    const d = readDefinition(base);
    expect(d).toMatchObject({
      priority: 100,
      seed: 42,
      dataset: { version: 'latest' },
      model: { type: 'classification' },
    });
    expect(d.stages[0]).toMatchObject({
      dependsOn: [],
      resources: { cpu: 1, memoryMb: 512, gpu: 0, storageMb: 0 },
      retry: { maxAttempts: 1, initialBackoffMs: 1000, maxBackoffMs: 10000 },
      timeoutMs: 600000,
      env: {},
    });
  });

  it('reads both example pipelines', async () => {
    for (const file of ['iris', 'penguins']) {
      const d = parseDefinitionText(await readFile(`examples/pipelines/${file}.yaml`, 'utf8'));
      expect(d.stages.map((s) => s.type)).toEqual(['prepare', 'train', 'evaluate', 'deploy']);
    }
  });

  it.each([
    ['an unknown stage type', { ...base, stages: [{ name: 'a', type: 'sing' }] }, /stages\/0\/type/],
    [
      'a dependency that is not a stage',
      { ...base, stages: [{ name: 'a', type: 'train', dependsOn: ['b'] }] },
      /depends on b, which is not a stage/,
    ],
    ['a stage defined twice', { ...base, stages: [base.stages[0], base.stages[0]] }, /defined twice/],
    [
      'a cycle',
      {
        ...base,
        stages: [
          { name: 'a', type: 'train', dependsOn: ['b'] },
          { name: 'b', type: 'train', dependsOn: ['a'] },
        ],
      },
      /cycle: a → b → a/,
    ],
    [
      'a command stage without a command',
      { ...base, stages: [{ name: 'a', type: 'command' }] },
      /params.command/,
    ],
    [
      'a negative GPU request',
      { ...base, stages: [{ name: 'a', type: 'train', resources: { gpu: -1 } }] },
      /resources\/gpu/,
    ],
    ['an unknown field', { ...base, schedule: 'daily' }, /schedule/],
  ])('answers 400 invalid_pipeline for %s', (_what, input, message) => {
    expect(problem(input)).toMatchObject({
      status: 400,
      code: 'invalid_pipeline',
      message: expect.stringMatching(message),
    });
  });

  it('answers 400 for text that is not YAML', () => {
    expect(() => parseDefinitionText('stages: [a, b')).toThrow(expect.objectContaining({ status: 400 }));
  });

  it('answers any JSON value with a definition or a 400, never anything else', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const p = problem(value);
        expect(p === undefined || (p.status === 400 && p.code === 'invalid_pipeline')).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
