import { seededRandom } from '../../kernel/random.js';
import { distinctPoints, type SearchSpace, samplePoint, type TrialParams } from './search-space.js';
import { keepGoing, type Strategy } from './strategy.js';

/**
 * `budget` points drawn from `space` with a seeded generator: draw n is the same on every
 * controller and after a restart. Draws that repeat an earlier point are refused by the
 * database and the controller takes the next draw; the budget is capped at the number of
 * distinct points, and the draws at 20 per budgeted trial, so a small space cannot loop.
 */
export function randomSearch(space: SearchSpace, budget: number, seed: number): Strategy {
  const total = Math.min(budget, distinctPoints(space));
  const maxDraws = Math.max(total * 20, 100);
  const random = seededRandom(seed);
  const draws: TrialParams[] = [];
  return {
    name: 'random',
    total,
    candidate(n) {
      if (n < 0 || n >= maxDraws) return null;
      while (draws.length <= n) draws.push(samplePoint(space, random));
      return draws[n];
    },
    review: () => keepGoing,
  };
}
