import { describe, expect, it } from 'vitest';
import { EndpointStatsTable } from '../../../src/gateway/balancing/endpoint-stats.js';
import {
  LeastOutstandingBalancer,
  PowerOfTwoBalancer,
  RoundRobinBalancer,
} from '../../../src/gateway/balancing/load-balancer.js';
import { seededRandom } from '../../../src/kernel/random.js';

const endpoints = ['a', 'b', 'c', 'd'].map((id) => ({ id, url: `http://127.0.0.1/${id}` }));
const all = () => true;

describe('RoundRobinBalancer', () => {
  it('takes turns and skips unusable endpoints without trying them', () => {
    const rr = new RoundRobinBalancer();
    expect([1, 2, 3, 4, 5].map(() => rr.pick(endpoints, all)!.id)).toEqual(['a', 'b', 'c', 'd', 'a']);
    const tried: string[] = [];
    const usable = (e: { id: string }) => {
      tried.push(e.id);
      return e.id !== 'c';
    };
    expect([1, 2, 3].map(() => rr.pick(endpoints, usable)!.id)).toEqual(['b', 'd', 'a']);
  });

  it('returns nothing when no endpoint is usable', () => {
    expect(new RoundRobinBalancer().pick(endpoints, () => false)).toBeUndefined();
    expect(new RoundRobinBalancer().pick([], all)).toBeUndefined();
  });
});

describe('LeastOutstandingBalancer', () => {
  it('picks the endpoint with the fewest calls in flight', () => {
    const stats = new EndpointStatsTable();
    stats.get('a').begin();
    stats.get('a').begin();
    stats.get('b').begin();
    stats.get('d').begin();
    expect(new LeastOutstandingBalancer(stats).pick(endpoints, all)!.id).toBe('c');
    expect(new LeastOutstandingBalancer(stats).pick(endpoints, (e) => e.id !== 'c')!.id).toBe('b');
  });
});

describe('PowerOfTwoBalancer', () => {
  it('sends most traffic to the faster of two endpoints', () => {
    const stats = new EndpointStatsTable();
    const two = endpoints.slice(0, 2);
    for (let i = 0; i < 5; i++) {
      stats.get('a').end(5, true);
      stats.get('b').end(200, true);
    }
    const p2c = new PowerOfTwoBalancer(stats, seededRandom(1));
    const picks = Array.from({ length: 100 }, () => p2c.pick(two, all)!.id);
    expect(picks.filter((id) => id === 'a').length).toBe(100);
  });

  it('steers away from an endpoint that fails, before any breaker opens', () => {
    const stats = new EndpointStatsTable();
    stats.get('a').end(3, false);
    stats.get('b').end(20, true);
    const p2c = new PowerOfTwoBalancer(stats, seededRandom(2));
    expect(p2c.pick(endpoints.slice(0, 2), all)!.id).toBe('b');
  });

  it('spreads over every endpoint when they are equal, and never picks an unusable one', () => {
    const p2c = new PowerOfTwoBalancer(new EndpointStatsTable(), seededRandom(3));
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const id = p2c.pick(endpoints, (e) => e.id !== 'd')!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.get('d')).toBeUndefined();
    for (const id of ['a', 'b', 'c']) expect(counts.get(id)).toBeGreaterThan(60);
  });

  it('uses the only usable endpoint, and none when there is none', () => {
    const p2c = new PowerOfTwoBalancer(new EndpointStatsTable(), seededRandom(4));
    expect(p2c.pick(endpoints, (e) => e.id === 'b')!.id).toBe('b');
    expect(p2c.pick(endpoints, () => false)).toBeUndefined();
  });
});

describe('EndpointStatsTable', () => {
  it('stays within its bound', () => {
    const table = new EndpointStatsTable(2);
    const first = table.get('x');
    table.get('y');
    table.get('z');
    expect(table.get('x')).not.toBe(first);
  });
});
