import { existsSync, readFileSync } from 'node:fs';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value, ValueErrorType } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { AimeshError } from './errors.js';

/**
 * The one configuration schema. Infrastructure sections are declared here; each module
 * declares its own section's schema next to its code and reads it with `readSection`,
 * so the module owns its knobs while the file stays one document.
 */
export const ServerConfig = Type.Object(
  {
    host: Type.String({ default: '127.0.0.1', description: 'Address to listen on.' }),
    port: Type.Integer({
      minimum: 0,
      maximum: 65535,
      default: 8080,
      description: 'HTTP port (0 = any free port).',
    }),
    bodyLimitBytes: Type.Integer({
      minimum: 1024,
      default: 4 * 1024 * 1024,
      description: 'Largest request body accepted.',
    }),
    drainTimeoutMs: Type.Integer({
      minimum: 0,
      default: 10_000,
      description: 'How long a graceful stop waits for in-flight work.',
    }),
    healthCheckMs: Type.Integer({
      minimum: 100,
      default: 1_000,
      description:
        'How often the database and the bus are checked for /readyz (a check also times out after this long).',
    }),
    adminTokenFile: Type.String({
      default: './data/admin-token',
      description:
        '`aimesh start` on a loopback address with no gateway.auth.adminToken: the admin token is generated into this file at first start (mode 0600) and read from it afterwards; the CLI on this host uses it.',
    }),
    workers: Type.Integer({
      minimum: 1,
      maximum: 256,
      default: 1,
      description:
        '`aimesh start`: processes sharing the ports, one per core (more than 1 needs postgres, nats and, with the gateway, redis).',
    }),
  },
  { default: {} },
);

export const DatabaseConfig = Type.Object(
  {
    adapter: Type.Union([Type.Literal('pglite'), Type.Literal('postgres')], {
      default: 'pglite',
      description: 'pglite: embedded Postgres (WASM) in dataDir; postgres: a PostgreSQL server at url.',
    }),
    dataDir: Type.String({
      default: './data/pglite',
      description: "PGlite data directory; 'memory://' keeps it in memory.",
    }),
    url: Type.Optional(Type.String({ description: 'postgres://user@127.0.0.1:5432/db (postgres adapter).' })),
    poolSize: Type.Integer({
      minimum: 1,
      default: 10,
      description: 'Connections in the pool (postgres adapter).',
    }),
  },
  { default: {} },
);

export const BusConfig = Type.Object(
  {
    adapter: Type.Union([Type.Literal('memory'), Type.Literal('nats')], {
      default: 'memory',
      description: 'memory: in-process bus; nats: NATS JetStream.',
    }),
    servers: Type.String({
      default: 'nats://127.0.0.1:4222',
      description: 'NATS server URL(s), comma-separated.',
    }),
    stream: Type.String({
      default: 'AIMESH',
      minLength: 1,
      pattern: '^[A-Za-z0-9_-]+$',
      description: 'JetStream stream that holds the ai.> subjects (created when missing).',
    }),
    subjectPrefix: Type.String({
      default: '',
      pattern: '^([A-Za-z0-9_-]+\\.)*$',
      description:
        "Put before every subject on the wire ('staging.' → staging.ai.>), so installations can share a NATS server.",
    }),
  },
  { default: {} },
);

export const RedisConfig = Type.Object(
  {
    url: Type.String({
      default: 'redis://127.0.0.1:6379',
      description: 'Redis URL, used by Redis-backed stores.',
    }),
  },
  { default: {} },
);

export const ArtifactsConfig = Type.Object(
  {
    dir: Type.String({
      default: './data/artifacts',
      description: 'Directory (local or a shared volume) for model files and datasets.',
    }),
  },
  { default: {} },
);

export const LogConfig = Type.Object(
  {
    level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info' },
    ),
  },
  { default: {} },
);

const moduleSection = (name: string) =>
  Type.Optional(Type.Unknown({ description: `The ${name} module's section; see its part of the README.` }));

export const Config = Type.Object(
  {
    server: ServerConfig,
    database: DatabaseConfig,
    bus: BusConfig,
    redis: RedisConfig,
    artifacts: ArtifactsConfig,
    log: LogConfig,
    gateway: moduleSection('gateway'),
    inference: moduleSection('inference'),
    pipeline: moduleSection('pipeline'),
    worker: moduleSection('worker'),
    registry: moduleSection('registry'),
    events: moduleSection('events'),
    discovery: moduleSection('discovery'),
    streams: moduleSection('streams'),
    dashboard: moduleSection('dashboard'),
  },
  { additionalProperties: false },
);
export type Config = Static<typeof Config>;

/** A configuration problem, naming every bad field: path, what was expected, what was given. */
export class ConfigError extends AimeshError {
  constructor(readonly problems: { path: string; expected: string; got: unknown }[]) {
    super(
      'invalid_config',
      400,
      `invalid configuration:\n${problems.map((p) => `  - ${p.path || '/'}: expected ${p.expected}, got ${JSON.stringify(p.got)}`).join('\n')}`,
      problems,
    );
  }
}

/** Applies defaults and validates `value` against `schema`; throws ConfigError naming each bad field under `prefix`. */
export function readSection<T extends TSchema>(schema: T, value: unknown, prefix = ''): Static<T> {
  const withDefaults = Value.Default(schema, Value.Clone(value ?? {}));
  const problems = [...Value.Errors(schema, withDefaults)].map((e) => ({
    path: `${prefix}${e.path}`,
    expected:
      e.type === ValueErrorType.ObjectAdditionalProperties
        ? `no such key; known keys: ${Object.keys((e.schema as { properties?: object }).properties ?? {}).join(', ')}`
        : e.message.replace(/^Expected /, '').replace(/^expected /, ''),
    got: e.value,
  }));
  if (problems.length > 0) throw new ConfigError(dedupe(problems));
  return withDefaults as Static<T>;
}

function dedupe<T extends { path: string }>(problems: T[]): T[] {
  const byPath = new Map<string, T>();
  for (const p of problems) if (!byPath.has(p.path)) byPath.set(p.path, p);
  return [...byPath.values()];
}

/** Shortcut environment variables for the settings people change most. */
const shortcuts: Record<string, string> = {
  AIMESH_PORT: 'server.port',
  AIMESH_HOST: 'server.host',
  AIMESH_WORKERS: 'server.workers',
  AIMESH_DATABASE_URL: 'database.url',
  AIMESH_NATS_URL: 'bus.servers',
  AIMESH_REDIS_URL: 'redis.url',
  AIMESH_LOG_LEVEL: 'log.level',
};

/**
 * Environment overrides: `AIMESH_<SECTION>__<KEY>__<KEY>=value`, each part SNAKE_CASE for a
 * camelCase key (AIMESH_GATEWAY__RATE_LIMIT__RPS → gateway.rateLimit.rps). Values are parsed as
 * JSON when they parse, else kept as strings.
 */
export function environmentOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined || !name.startsWith('AIMESH_')) continue;
    let path: string[] | undefined;
    if (shortcuts[name]) path = shortcuts[name].split('.');
    else if (name.includes('__')) path = name.slice('AIMESH_'.length).split('__').map(camelCase);
    if (!path) continue;
    setPath(out, path, parseScalar(raw));
    if (name === 'AIMESH_DATABASE_URL') setPath(out, ['database', 'adapter'], 'postgres');
    if (name === 'AIMESH_NATS_URL') setPath(out, ['bus', 'adapter'], 'nats');
  }
  return out;
}

function camelCase(snake: string): string {
  return snake.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function parseScalar(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

/** Deep-merges plain objects; arrays and scalars from `override` replace. */
export function deepMerge(base: unknown, override: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(override)) return override === undefined ? base : override;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(override)) {
    // Own keys only, defined rather than assigned: a key named `valueOf` must not pick up the
    // inherited function, nor one named `__proto__` change the prototype.
    Object.defineProperty(out, k, {
      value: deepMerge(Object.hasOwn(base, k) ? base[k] : undefined, v),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface LoadConfigOptions {
  /** Path of a YAML file; when absent, `aimesh.yaml` in the working directory is read if present. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values that win over file and environment (command-line flags). */
  overrides?: Record<string, unknown>;
}

/** Reads file + environment + flags, applies defaults, validates; throws ConfigError on any bad field. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.AIMESH_CONFIG ?? (existsSync('aimesh.yaml') ? 'aimesh.yaml' : undefined);
  let fromFile: unknown = {};
  if (file) {
    if (!existsSync(file))
      throw new AimeshError('config_not_found', 400, `config file ${file} does not exist`);
    try {
      fromFile = parseYaml(readFileSync(file, 'utf8')) ?? {};
    } catch (error) {
      throw new AimeshError(
        'invalid_config',
        400,
        `config file ${file} is not valid YAML: ${(error as Error).message}`,
      );
    }
    if (!isPlainObject(fromFile))
      throw new ConfigError([{ path: '/', expected: 'a mapping', got: fromFile }]);
  }
  const merged = deepMerge(deepMerge(fromFile, environmentOverrides(env)), options.overrides ?? {});
  const config = readSection(Config, merged);
  if (config.database.adapter === 'postgres' && !config.database.url) {
    throw new ConfigError([
      { path: '/database/url', expected: 'a postgres:// URL when adapter is postgres', got: undefined },
    ]);
  }
  return config;
}
