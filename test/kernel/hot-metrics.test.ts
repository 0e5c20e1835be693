import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HotCounter, HotHistogram } from '../../src/kernel/hot-metrics.js';

const BUCKETS = [0.001, 0.01, 0.1, 1, 10];
const label = fc.constantFrom('a', 'b', 'route "x"', 'm\\n', '');

describe('hot metrics', () => {
  it('export exactly what prom-client exports for the same calls', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(label, label, fc.double({ min: 0, max: 20, noNaN: true })), { maxLength: 60 }),
        async (calls) => {
          const reference = new Registry();
          const hot = new Registry();
          const refCounter = new Counter({
            name: 'x_total',
            help: 'Calls.',
            labelNames: ['route', 'model'],
            registers: [reference],
          });
          const refHistogram = new Histogram({
            name: 'x_seconds',
            help: 'Time.',
            labelNames: ['route', 'model'],
            buckets: BUCKETS,
            registers: [reference],
          });
          const counter = new HotCounter({
            name: 'x_total',
            help: 'Calls.',
            labelNames: ['route', 'model'],
            registers: [hot],
          });
          const histogram = new HotHistogram({
            name: 'x_seconds',
            help: 'Time.',
            labelNames: ['route', 'model'],
            buckets: BUCKETS,
            registers: [hot],
          });
          for (const [route, model, value] of calls) {
            refCounter.inc({ route, model });
            refHistogram.observe({ route, model }, value);
            counter.labels(route, model).inc();
            histogram.labels(route, model).observe(value);
          }
          expect(await hot.metrics()).toBe(await reference.metrics());
          expect(await hot.getMetricsAsJSON()).toEqual(await reference.getMetricsAsJSON());
        },
      ),
      { numRuns: 50 },
    );
  });

  it('counts label sets beyond its bound in one series labelled other', async () => {
    const registry = new Registry();
    const counter = new HotCounter({
      name: 'z_total',
      help: 'Z.',
      labelNames: ['upstream'],
      registers: [registry],
      maxSeries: 3,
    });
    for (let i = 0; i < 10; i++) counter.labels(`instance-${i}`).inc();
    const text = await registry.metrics();
    expect(text.match(/^z_total\{/gm)).toHaveLength(4);
    expect(text).toMatch(/^z_total\{upstream="other"\} 7$/m);
  });

  it('empties on reset, as prom-client metrics do', async () => {
    const registry = new Registry();
    const counter = new HotCounter({ name: 'y_total', help: 'Y.', labelNames: ['k'], registers: [registry] });
    counter.labels('v').inc(2);
    registry.resetMetrics();
    expect(await registry.metrics()).not.toMatch(/y_total\{/);
  });
});
