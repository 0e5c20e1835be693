/** A source of uniform numbers in [0, 1); injected so jitter, sampling and searches are reproducible. */
export interface Random {
  next(): number;
}

/** Math.random, for production. */
export const systemRandom: Random = { next: () => Math.random() };

/** A seeded generator (mulberry32): small, fast and good enough for jitter and trial sampling. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return {
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}
