// The layers of aimesh and how they may meet (README, "Architecture"). `npm run lint` checks
// src/ against these rules; test/lint/boundaries.test.ts shows each rule refusing a violation.
const MODULES = '(gateway|inference|pipeline|worker|registry|events|discovery|dashboard)';
const DRIVERS =
  '(^|/)node_modules/(pg|pg-copy-streams|@electric-sql/pglite|@nats-io/[^/]+|ioredis|onnxruntime-node|@tensorflow/[^/]+|@kubernetes/[^/]+)/';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'No import cycles: a cycle makes start order and reading order undefined.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'kernel-imports-nothing-above',
      severity: 'error',
      comment: 'The kernel (and the ports it names) is the bottom layer: no module, adapter, wiring or CLI.',
      from: { path: '^src/kernel/' },
      to: { path: '^src/', pathNot: '^src/(kernel|ports)/' },
    },
    {
      name: 'ports-are-interfaces',
      severity: 'error',
      comment: 'Ports are the interfaces of DESIGN.md section 2; they import only each other.',
      from: { path: '^src/ports/' },
      to: { path: '^src/', pathNot: '^src/ports/' },
    },
    {
      name: 'drivers-only-in-adapters',
      severity: 'error',
      comment: 'Database, bus, cache, model-runtime and cluster drivers are used only in src/adapters/.',
      from: { path: '^src/', pathNot: '^src/adapters/' },
      to: { path: DRIVERS },
    },
    {
      name: 'adapters-only-from-wiring',
      severity: 'error',
      comment: 'Only the wiring layer (src/app) chooses adapters; modules get them through their context.',
      from: { path: '^src/', pathNot: '^src/(app|adapters)/' },
      to: { path: '^src/adapters/' },
    },
    {
      name: 'adapters-implement-ports',
      severity: 'error',
      comment: 'An adapter knows its port and the kernel, never a module or the wiring.',
      from: { path: '^src/adapters/' },
      to: { path: '^src/', pathNot: '^src/(adapters|ports|kernel)/' },
    },
    {
      name: 'modules-meet-through-index',
      severity: 'error',
      comment:
        'Another module is used through its index.ts (its API), a port or its events, never its files.',
      from: { path: '^src/([^/]+)/' },
      to: { path: `^src/${MODULES}/`, pathNot: ['^src/$1/', `^src/${MODULES}/index\\.ts$`] },
    },
    {
      name: 'wiring-is-the-top',
      severity: 'error',
      comment: 'Nothing below the wiring layer and the CLI imports them.',
      from: { path: '^src/', pathNot: '^src/(app|cli)/' },
      to: { path: '^src/(app|cli)/' },
    },
    {
      name: 'resilience-is-a-library',
      severity: 'error',
      comment: 'Circuit breaker, retry and bulkhead know the kernel only.',
      from: { path: '^src/resilience/' },
      to: { path: '^src/', pathNot: '^src/(resilience|kernel)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.json'] },
    exclude: { path: '\\.sql$' },
  },
};
