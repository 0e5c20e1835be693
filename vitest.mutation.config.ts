import { defineConfig } from 'vitest/config';

// The unit tests of the policy code, for `npm run test:mutation`: Stryker runs the tests that
// cover a mutant once per mutant, so only fast ones that need no server belong here.
export default defineConfig({
  test: {
    include: [
      'test/resilience/*.test.ts',
      'test/gateway/seed-policies.test.ts',
      'test/gateway/auth/access-rules.test.ts',
      'test/gateway/auth/jwt-claims.test.ts',
      'test/gateway/auth/credential-parsers.test.ts',
      'test/gateway/auth/credential-authenticator.test.ts',
      'test/gateway/auth/gateway-auth.test.ts',
      'test/gateway/rate-limit/seed-limits.test.ts',
      'test/gateway/rate-limit/rate-limiter.test.ts',
      'test/gateway/rate-limit/rate-limit-units.test.ts',
      'test/gateway/selection/*.test.ts',
      'test/gateway/balancing/*.test.ts',
      'test/inference/batcher.test.ts',
      'test/registry/promotion.test.ts',
      'test/pipeline/wait-reason.test.ts',
      'test/streams/window-aggregator.test.ts',
    ],
    testTimeout: 30_000,
  },
});
