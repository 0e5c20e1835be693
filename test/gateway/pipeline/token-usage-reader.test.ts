import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenUsageReader } from '../../../src/gateway/pipeline/token-usage-reader.js';

const events = [
  'data: {"choices":[{"delta":{"content":"hé"}}]}\n\n',
  ': keep-alive comment\n\n',
  'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}\n\n',
  'data: [DONE]\n\n',
];
const whole = Buffer.from(events.join(''));
const json = Buffer.from(
  '{"id":"c1","choices":[{"message":{"content":"say \\"total_tokens\\": 99"}}],"usage":{"prompt_tokens":10,"total_tokens" : 25}}',
);

function read(chunks: Buffer[]): number | undefined {
  const reader = new TokenUsageReader();
  for (const chunk of chunks) reader.tapped(chunk);
  return reader.totalTokens;
}

const cutsOf = (bytes: Buffer) =>
  fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 12 }).map((cuts) => {
    const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
    return points.slice(1).map((end, i) => bytes.subarray(points[i], end));
  });

describe('Reading token usage from a relayed answer as it passes', () => {
  it('reads total_tokens of an SSE stream, however the stream is split', () => {
    fc.assert(
      fc.property(cutsOf(whole), (chunks) => {
        expect(read(chunks)).toBe(7);
      }),
      { numRuns: 200 },
    );
  });

  it('reads the usage of a JSON answer, not a quoted mention in its content, however it is split', () => {
    fc.assert(
      fc.property(cutsOf(json), (chunks) => {
        expect(read(chunks)).toBe(25);
      }),
      { numRuns: 200 },
    );
  });

  it('reports nothing for an answer without usage, and survives text that is not JSON', () => {
    expect(read([Buffer.from('data: {"total_tokens": broken\n\ndata: [DONE]\n\n')])).toBeUndefined();
    expect(read([Buffer.from('{"total_tokens":')])).toBeUndefined();
  });
});
