import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscoveryApi } from '../../../src/discovery/index.js';
import { EndpointStatsTable } from '../../../src/gateway/balancing/endpoint-stats.js';
import { RoundRobinBalancer } from '../../../src/gateway/balancing/load-balancer.js';
import { Forwarder, type ForwardRequest } from '../../../src/gateway/proxy/forwarder.js';
import { UpstreamClient } from '../../../src/gateway/proxy/upstream-client.js';
import { systemClock } from '../../../src/kernel/clock.js';
import { seededRandom } from '../../../src/kernel/random.js';
import { BreakerRegistry } from '../../../src/resilience/breaker-registry.js';
import { RetryBudget } from '../../../src/resilience/retry.js';
import { type MisbehavingUpstream, startUpstream } from './misbehaving-upstream.js';

const policy = {
  failureRateThreshold: 0.5,
  openMs: 60_000,
  slidingWindowSize: 2,
  minimumCalls: 1,
  halfOpenCalls: 1,
};
const noDiscovery: DiscoveryApi = {
  register: () => Promise.reject(new Error('unused')),
  instances: () => [],
  watch: () => () => {},
};

describe('Forwarder', () => {
  let slow: MisbehavingUpstream;
  const client = new UpstreamClient({ connectTimeoutMs: 500, readTimeoutMs: 2_000 });
  const breakers = new BreakerRegistry({ default: policy }, systemClock);
  const forwarder = new Forwarder({
    client,
    discovery: noDiscovery,
    breakers,
    balancer: new RoundRobinBalancer(),
    stats: new EndpointStatsTable(),
    retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 50 },
    budget: new RetryBudget({ ratio: 1, minPerSecond: 100, windowMs: 10_000 }, systemClock),
    bulkhead: { maxConcurrent: 1, lowPriorityShare: 1 },
    clock: systemClock,
    random: seededRandom(1),
  });
  const request = (endpoints: { id: string; url: string }[]): ForwardRequest => ({
    method: 'GET',
    path: '/',
    headers: {},
    body: undefined,
    repeatable: true,
    priority: 'normal',
    policy: 'default',
    signal: new AbortController().signal,
    choices: [{ target: { kind: 'static', name: 'test', endpoints } }],
  });

  beforeAll(async () => {
    slow = await startUpstream('slow', { kind: 'slow', delayMs: 300 });
  });
  afterAll(async () => {
    await client.close();
    await slow.close();
  });

  it('refuses at once, without looping, when one endpoint’s breaker is open and the other is full', async () => {
    const dead = { id: 'dead', url: 'http://127.0.0.1:1' };
    const busy = { id: 'busy', url: slow.url };
    breakers.get(Forwarder.endpointKey(dead)).record(false);
    expect(breakers.get(Forwarder.endpointKey(dead)).state).toBe('open');
    const holding = forwarder.forward(request([busy]));
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    const error = await forwarder.forward(request([dead, busy])).catch((e) => e);
    expect(error.code).toBe('upstream_saturated');
    expect(Date.now() - started).toBeLessThan(100);
    const held = await holding;
    held.response.discard();
    expect(held.response.status).toBe(200);
  });

  it('moves on to another endpoint after a connect failure and reports the attempts', async () => {
    const refused = { id: 'refused', url: 'http://127.0.0.1:2' };
    const result = await forwarder.forward(request([refused, { id: 'ok', url: slow.url }]));
    result.response.discard();
    expect(result.endpoint.id).toBe('ok');
    expect(result.attempts).toBe(2);
  });
});
