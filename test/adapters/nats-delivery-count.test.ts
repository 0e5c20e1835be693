import { describe, expect, it } from 'vitest';
import { deliveryCountOf } from '../../src/adapters/nats/nats-bus.js';

const info = { deliveryCount: -1 } as never;

describe('the delivery count read from a JetStream ack subject', () => {
  it('reads the fifth token of the 9-token form older servers send', () => {
    expect(deliveryCountOf({ reply: '$JS.ACK.S1.durable.3.120.44.1700000000000000000.7', info })).toBe(3);
  });

  it('reads the seventh token of the 12-token form with domain and account hash', () => {
    expect(
      deliveryCountOf({ reply: '$JS.ACK._.hash123.S1.durable.12.120.44.1700000000000000000.7.rnd', info }),
    ).toBe(12);
  });

  it("falls back to the library's parse when the token is not a count", () => {
    expect(
      deliveryCountOf({ reply: '$JS.ACK.S1.durable.x.120.44.17.7', info: { deliveryCount: 2 } as never }),
    ).toBe(2);
  });
});
