import { describe, expect, it } from 'vitest';
import { EndpointStats, EndpointStatsTable } from '../../../src/gateway/balancing/endpoint-stats.js';
import {
  createBalancer,
  LeastOutstandingBalancer,
  PowerOfTwoBalancer,
  RoundRobinBalancer,
} from '../../../src/gateway/balancing/load-balancer.js';
import type { Random } from '../../../src/kernel/random.js';

const endpoints = ['a', 'b', 'c', 'd'].map((id) => ({ id, url: `http://127.0.0.1/${id}` }));
const all = () => true;
/** A random source that returns the given numbers in turn. */
const sequence = (...values: number[]): Random => {
  let i = 0;
  return { next: () => values[i++ % values.length] };
};

describe('EndpointStats', () => {
  it('takes the first latency as it is, then an EWMA with alpha 0.3', () => {
    const s = new EndpointStats();
    expect(s.ewmaMs).toBe(0);
    s.end(100, true);
    expect(s.ewmaMs).toBe(100);
    s.end(200, true);
    expect(s.ewmaMs).toBeCloseTo(130, 10);
  });

  it('counts a failure as at least 1 s, and a slower failure as itself', () => {
    const fast = new EndpointStats();
    fast.end(3, false);
    expect(fast.ewmaMs).toBe(1_000);
    const slow = new EndpointStats();
    slow.end(2_500, false);
    expect(slow.ewmaMs).toBe(2_500);
  });

  it('costs latency + 1 times calls in flight + 1, and never counts below zero in flight', () => {
    const s = new EndpointStats();
    expect(s.cost()).toBe(1);
    s.end(10, true);
    expect(s.inFlight).toBe(0);
    s.begin();
    s.begin();
    expect(s.cost()).toBe(33);
    s.end(10, true);
    expect(s.inFlight).toBe(1);
  });

  it('keeps the newest endpoints when the table is full', () => {
    const table = new EndpointStatsTable(2);
    table.get('x');
    const y = table.get('y');
    table.get('z');
    expect(table.get('y')).toBe(y);
  });
});

describe('Balancer edges', () => {
  it('round robin carries on after the endpoint it picked, across calls', () => {
    const rr = new RoundRobinBalancer();
    expect(rr.pick(endpoints, (e) => e.id === 'c')!.id).toBe('c');
    expect(rr.pick(endpoints, all)!.id).toBe('d');
    expect(rr.pick(endpoints, all)!.id).toBe('a');
    expect(rr.pick(endpoints.slice(0, 1), all)!.id).toBe('a');
  });

  it('round robin asks about each endpoint once when none is usable', () => {
    const tried: string[] = [];
    const none = (e: { id: string }) => {
      tried.push(e.id);
      return false;
    };
    expect(new RoundRobinBalancer().pick(endpoints, none)).toBeUndefined();
    expect(tried).toEqual(['a', 'b', 'c', 'd']);
  });

  it('least outstanding breaks ties by lower latency, and keeps the first of full ties', () => {
    const stats = new EndpointStatsTable();
    stats.get('a').end(50, true);
    stats.get('b').end(10, true);
    stats.get('c').end(10, true);
    stats.get('d').end(5, true);
    stats.get('d').begin();
    expect(new LeastOutstandingBalancer(stats).pick(endpoints, all)!.id).toBe('b');
    expect(new LeastOutstandingBalancer(stats).pick(endpoints, () => false)).toBeUndefined();
  });

  it('power of two draws two distinct usable endpoints and keeps the first on a tie', () => {
    const stats = new EndpointStatsTable();
    const usable = (e: { id: string }) => e.id !== 'a';
    // 0 → the first usable (b); 0 again → the next one (c).
    expect(new PowerOfTwoBalancer(stats, sequence(0, 0)).pick(endpoints, usable)!.id).toBe('b');
    stats.get('b').begin();
    expect(new PowerOfTwoBalancer(stats, sequence(0, 0)).pick(endpoints, usable)!.id).toBe('c');
    // 0.99 → the last usable (d); 0.99 of the two left → c.
    stats.get('d').end(1, true);
    expect(new PowerOfTwoBalancer(stats, sequence(0.99, 0.99)).pick(endpoints, usable)!.id).toBe('c');
    // d against b: both cost 2, and the first drawn wins the tie.
    expect(new PowerOfTwoBalancer(stats, sequence(0.99, 0.4)).pick(endpoints, usable)!.id).toBe('d');
  });

  it('power of two picks the only usable endpoint wherever it is', () => {
    const p2c = new PowerOfTwoBalancer(new EndpointStatsTable(), sequence(0.7));
    expect(p2c.pick(endpoints, (e) => e.id === 'd')!.id).toBe('d');
  });

  it('is made from its name', () => {
    const stats = new EndpointStatsTable();
    const random = sequence(0);
    expect(createBalancer('round-robin', stats, random)).toBeInstanceOf(RoundRobinBalancer);
    expect(createBalancer('least-outstanding', stats, random)).toBeInstanceOf(LeastOutstandingBalancer);
    expect(createBalancer('p2c-ewma', stats, random)).toBeInstanceOf(PowerOfTwoBalancer);
  });
});
