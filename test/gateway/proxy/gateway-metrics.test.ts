import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from '../../../src/gateway/proxy/gateway-metrics.js';
import { systemClock } from '../../../src/kernel/clock.js';
import { BreakerRegistry } from '../../../src/resilience/breaker-registry.js';

const sample = (text: string, line: string) =>
  Number(
    text
      .split('\n')
      .find((l) => l.startsWith(`${line} `))
      ?.split(' ')[1] ?? 0,
  );

describe('GatewayMetrics', () => {
  it('counts each call under its own labels, in runs of the same labels and interleaved', async () => {
    const registry = new Registry();
    const metrics = new GatewayMetrics(registry, new BreakerRegistry({}, systemClock));
    const calls: [string, string, string, number][] = [
      ['ai', 'm1', 'u1', 200],
      ['ai', 'm1', 'u1', 200],
      ['ai', 'm2', 'u1', 200],
      ['ai', 'm1', 'u1', 503],
      ['ai', 'm1', 'u1', 200],
      ['train', 'm1', 'u2', 200],
    ];
    for (const [route, model, upstream, status] of calls)
      metrics.observe(route, model, upstream, status, 0.002);
    const text = await registry.metrics();
    const count = (route: string, model: string, upstream: string, status: number) =>
      sample(
        text,
        `aimesh_gateway_requests_total{route="${route}",model="${model}",upstream="${upstream}",status="${status}"}`,
      );
    expect(count('ai', 'm1', 'u1', 200)).toBe(3);
    expect(count('ai', 'm2', 'u1', 200)).toBe(1);
    expect(count('ai', 'm1', 'u1', 503)).toBe(1);
    expect(count('train', 'm1', 'u2', 200)).toBe(1);
    expect(sample(text, 'aimesh_gateway_request_duration_seconds_count{route="ai",model="m1"}')).toBe(4);
  });

  it('keeps counting after the registry is reset, with the same labels as before it', async () => {
    const registry = new Registry();
    const metrics = new GatewayMetrics(registry, new BreakerRegistry({}, systemClock));
    metrics.observe('ai', 'm1', 'u1', 200, 0.001);
    registry.resetMetrics();
    metrics.observe('ai', 'm1', 'u1', 200, 0.001);
    metrics.observe('ai', 'm1', 'u1', 200, 0.001);
    const text = await registry.metrics();
    expect(
      sample(text, 'aimesh_gateway_requests_total{route="ai",model="m1",upstream="u1",status="200"}'),
    ).toBe(2);
    expect(sample(text, 'aimesh_gateway_request_duration_seconds_count{route="ai",model="m1"}')).toBe(2);
  });
});
