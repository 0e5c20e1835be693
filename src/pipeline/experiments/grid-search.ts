import { gridPoint, gridSize, type SearchSpace } from './search-space.js';
import { keepGoing, type Strategy } from './strategy.js';

/** Every point of the grid, in order (the last parameter varies fastest). */
export function gridSearch(space: SearchSpace): Strategy {
  const total = gridSize(space);
  return {
    name: 'grid',
    total,
    candidate: (n) => gridPoint(space, n),
    review: () => keepGoing,
  };
}
