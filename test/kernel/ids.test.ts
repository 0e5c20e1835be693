import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdSource, newId } from '../../src/kernel/ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The epoch milliseconds a UUIDv7 carries in its first 48 bits. */
const timeOf = (id: string) => Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);

describe('IdSource', () => {
  it('makes UUIDv7s that carry the time they were made for', () => {
    const ids = new IdSource();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (now) => {
        const id = ids.next(now);
        expect(id).toMatch(UUID_V7);
        expect(timeOf(id)).toBe(now);
      }),
    );
  });

  it('sorts ids of later milliseconds after earlier ones, as newId does', () => {
    const ids = new IdSource();
    const made = [1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000].map((t) => ids.next(t));
    expect([...made].sort()).toEqual(made);
    expect(ids.next(1_700_000_000_000).slice(0, 13)).toBe(newId(1_700_000_000_000).slice(0, 13));
  });

  it('never repeats an id across many refills of its random buffer', () => {
    const ids = new IdSource();
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(ids.next(1_700_000_000_000));
    expect(seen.size).toBe(20_000);
  });
});
