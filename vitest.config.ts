import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // An admin token file a start in the clone may have left is no test's credential: the CLI's
    // calls in tests read this path, which never exists (test/support/processes.ts gives each
    // child process its own).
    env: { AIMESH_SERVER__ADMIN_TOKEN_FILE: '/nonexistent/aimesh-test/admin-token' },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores here: more workers than that only thrashes; heavy suites set their own timeouts.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
