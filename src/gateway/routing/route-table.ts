import { ConfigError } from '../../kernel/config.js';
import type { Random } from '../../kernel/random.js';
import type { Endpoint } from '../balancing/load-balancer.js';
import type { ContentMatchConfig, RouteConfig } from '../config.js';

/** Where a call goes: a discovered service, or a fixed list of upstreams. */
export type RouteTarget =
  | { kind: 'service'; service: string }
  | { kind: 'static'; name: string; endpoints: Endpoint[] };

/** A content rule, compiled. */
export interface CompiledMatch {
  header?: string;
  field?: string[];
  test: (value: string) => boolean;
  target: RouteTarget;
}

/** A route, compiled once at start so the hot path only reads fields. */
export interface CompiledRoute {
  /** The configured path, also the `route` metric label. */
  name: string;
  /** Path without the trailing `/**`. */
  prefix: string;
  /** True for `/**` routes: the prefix and everything below it. */
  subtree: boolean;
  target: RouteTarget;
  stripPrefix?: string;
  policy: string;
  modelAware: boolean;
  matches: CompiledMatch[];
  /** True when some rule reads the JSON body. */
  readsBody: boolean;
}

function compileTarget(where: string, spec: { service?: string; upstreams?: string[] }): RouteTarget {
  if ((spec.service === undefined) === (spec.upstreams === undefined)) {
    throw new ConfigError([{ path: where, expected: 'exactly one of service or upstreams', got: spec }]);
  }
  if (spec.service !== undefined) return { kind: 'service', service: spec.service };
  const endpoints = spec.upstreams!.map((url) => ({
    id: url.replace(/\/$/, ''),
    url: url.replace(/\/$/, ''),
  }));
  return { kind: 'static', name: endpoints.map((e) => e.id).join(','), endpoints };
}

function compileMatch(where: string, rule: ContentMatchConfig): CompiledMatch {
  if ((rule.header === undefined) === (rule.field === undefined)) {
    throw new ConfigError([{ path: where, expected: 'exactly one of header or field', got: rule }]);
  }
  let test: (value: string) => boolean;
  if (rule.pattern !== undefined) {
    let re: RegExp;
    try {
      re = new RegExp(rule.pattern);
    } catch (error) {
      throw new ConfigError([
        { path: `${where}/pattern`, expected: 'a regular expression', got: (error as Error).message },
      ]);
    }
    test = (v) => re.test(v);
  } else if (rule.equals !== undefined) {
    const expected = rule.equals;
    test = (v) => v === expected;
  } else {
    throw new ConfigError([{ path: where, expected: 'equals or pattern', got: rule }]);
  }
  return {
    header: rule.header?.toLowerCase(),
    field: rule.field?.split('.'),
    test,
    target: compileTarget(where, rule),
  };
}

/** Compiles and checks the configured routes; throws ConfigError naming the bad entry. */
export function compileRoutes(routes: RouteConfig[]): CompiledRoute[] {
  const seen = new Set<string>();
  return routes.map((route, i) => {
    const where = `/gateway/routes/${i}`;
    if (seen.has(route.path))
      throw new ConfigError([
        { path: `${where}/path`, expected: 'a path no other route has', got: route.path },
      ]);
    seen.add(route.path);
    const subtree = route.path.endsWith('/**');
    const matches = route.match.map((m, j) => compileMatch(`${where}/match/${j}`, m));
    return {
      name: route.path,
      prefix: subtree ? route.path.slice(0, -3) : route.path,
      subtree,
      target: compileTarget(where, route),
      stripPrefix: route.stripPrefix,
      policy: route.policy,
      modelAware: route.modelAware,
      matches,
      readsBody: matches.some((m) => m.field !== undefined),
    };
  });
}

/** The value at a dotted path of a parsed JSON body, as a string when it is a scalar. */
export function fieldAt(body: unknown, path: string[]): string | undefined {
  let node = body;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  if (typeof node === 'string') return node;
  if (typeof node === 'number' || typeof node === 'boolean') return String(node);
  return undefined;
}

/** A request body parsed only when something reads it. */
export interface LazyBody {
  value(): unknown;
}

/** The target of a call: the first content rule that matches, else the route's own target. */
export function resolveTarget(
  route: CompiledRoute,
  headers: Record<string, string | string[] | undefined>,
  body: LazyBody,
): RouteTarget {
  for (const rule of route.matches) {
    let value: string | undefined;
    if (rule.header !== undefined) {
      const h = headers[rule.header];
      value = Array.isArray(h) ? h[0] : h;
    } else value = fieldAt(body.value(), rule.field!);
    if (value !== undefined && rule.test(value)) return rule.target;
  }
  return route.target;
}

/** The path sent upstream: the prefix to strip removed, the query kept. */
export function upstreamPath(route: CompiledRoute, url: string): string {
  const strip = route.stripPrefix;
  if (!strip || !url.startsWith(strip)) return url;
  const rest = url.slice(strip.length);
  return rest === '' || rest[0] === '?' ? `/${rest}` : rest;
}

/** Picks a version from a weighted split (canary); undefined when every weight is 0. */
export function pickWeighted(
  split: readonly { version: string; weight: number }[],
  random: Random,
): string | undefined {
  let total = 0;
  for (const s of split) total += s.weight;
  if (total <= 0) return undefined;
  let r = random.next() * total;
  for (const s of split) {
    r -= s.weight;
    if (r < 0) return s.version;
  }
  return split[split.length - 1].version;
}
