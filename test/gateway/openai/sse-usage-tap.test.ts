import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseUsageTap } from '../../../src/gateway/openai/sse-usage-tap.js';

const events = [
  'data: {"choices":[{"delta":{"content":"hé"}}]}\n\n',
  ': keep-alive comment\n\n',
  'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}\n\n',
  'data: [DONE]\n\n',
];
const whole = Buffer.from(events.join(''));

async function through(chunks: Buffer[]) {
  const tap = new SseUsageTap();
  const out: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    Readable.from(chunks)
      .pipe(tap)
      .on('data', (c: Buffer) => out.push(c))
      .on('end', resolve)
      .on('error', reject);
  });
  return { bytes: Buffer.concat(out), totalTokens: tap.totalTokens };
}

describe('Reading usage from a passing SSE stream', () => {
  it('passes every byte through unchanged and reads total_tokens, however the stream is split', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: whole.length - 1 }), { maxLength: 12 }),
        async (cuts) => {
          const points = [0, ...cuts.sort((a, b) => a - b), whole.length];
          const chunks = points.slice(1).map((end, i) => whole.subarray(points[i], end));
          const result = await through(chunks);
          expect(result.bytes.equals(whole)).toBe(true);
          expect(result.totalTokens).toBe(7);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('reports nothing for a stream without usage, and survives lines that are not JSON', async () => {
    const result = await through([Buffer.from('data: {"total_tokens": broken\n\ndata: [DONE]\n\n')]);
    expect(result.totalTokens).toBeUndefined();
  });
});
