export type { BreakerView } from './breaker-registry.js';
export { BreakerRegistry } from './breaker-registry.js';
export { Bulkhead, type Priority, parsePriority } from './bulkhead.js';
export type { BreakerPolicy, BreakerState } from './circuit-breaker.js';
export { CircuitBreaker, DEFAULT_BREAKER_POLICY } from './circuit-breaker.js';
export type { RetryBudgetOptions, RetryPolicy } from './retry.js';
export { backoffDelay, DEFAULT_RETRY_POLICY, isRepeatable, RetryBudget, waitFor } from './retry.js';
