import { describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../src/adapters/memory/memory-bus.js';

const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe('in-process bus: the retained tail for durables created later', () => {
  it.each([
    [3, 2_000],
    [1_500, 5_000],
    [10, 5],
  ])('keeps exactly the last %i of %i messages, in order', async (retain, published) => {
    const bus = createMemoryBus({ retain });
    for (let i = 0; i < published; i++)
      await bus.publish('ai.test.retained', new TextEncoder().encode(String(i)));
    const received: string[] = [];
    const subscription = await bus.consume(
      { durable: 'late', subjects: ['ai.test.>'], concurrency: 10_000 },
      async (message) => {
        received.push(text(message.data));
        message.ack();
      },
    );
    const expected = Math.min(retain, published);
    const until = Date.now() + 5_000;
    while (received.length < expected && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    await subscription.close();
    await bus.close();
    const first = published - expected;
    expect(received).toEqual(Array.from({ length: expected }, (_, i) => String(first + i)));
  });
});
