import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ModelChooser, modelRequest } from '../../../src/gateway/routing/model-choice.js';
import type { RouteTarget } from '../../../src/gateway/routing/route-table.js';
import { ModelSelector } from '../../../src/gateway/selection/model-selector.js';
import { ManualClock } from '../../../src/kernel/clock.js';
import { forbidden } from '../../../src/kernel/errors.js';
import { seededRandom } from '../../../src/kernel/random.js';

const model = (id: string, costPerCall: number, accuracy: number, upstream = 'model-inference') => ({
  id,
  version: '1',
  type: 'sentiment',
  upstream,
  accuracy,
  costPerCall,
  costPer1kTokens: 0,
  costPerHour: 0,
  tokensPerCall: 0,
  latencyMs: 10,
  throughput: 1,
});

const selector = new ModelSelector({
  config: {
    catalogue: [model('small', 1, 0.9), model('large', 5, 0.97, 'http://127.0.0.1:9/')],
    latencyAlpha: 0.2,
    throughputWindowMs: 10_000,
  },
  clock: new ManualClock(),
});
const routeTarget: RouteTarget = { kind: 'service', service: 'model-inference' };
const alice = { id: 'alice', roles: ['caller' as const], via: 'api-key' as const };

describe('modelRequest', () => {
  it('reads the type and model from headers first, then from the body, then from a /v2 path', () => {
    const none = { value: () => undefined };
    expect(modelRequest({ 'x-model-type': 'sentiment' }, '/x', none, {})).toMatchObject({
      type: 'sentiment',
    });
    expect(modelRequest({}, '/x', { value: () => ({ modelType: 't', model: 'm' }) }, {})).toMatchObject({
      type: 't',
      id: 'm',
    });
    expect(modelRequest({}, '/v2/models/iris%2Dv2/infer', none, {})).toMatchObject({ id: 'iris-v2' });
  });

  it('does not parse the body when a header names the model type', () => {
    let parsed = 0;
    modelRequest({ 'x-model-type': 'sentiment' }, '/x', { value: () => parsed++ }, {});
    expect(parsed).toBe(0);
  });

  it('answers bad input with a 400, never another error', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ maxLength: 300 }), (segment, id) => {
        try {
          modelRequest(
            { 'x-model-id': id || undefined },
            `/v2/models/${segment}/infer`,
            { value: () => undefined },
            {},
          );
        } catch (error) {
          expect((error as { status: number }).status).toBe(400);
        }
      }),
    );
    expect(() => modelRequest({}, '/v2/models/%E0%A4%A/infer', { value: () => undefined }, {})).toThrow(
      /percent-encoding/,
    );
  });
});

describe('ModelChooser', () => {
  const chooser = new ModelChooser({
    selector,
    versions: { small: [{ version: '9', weight: 1 }] },
    random: seededRandom(1),
  });

  it('orders the qualifying models cheapest first, each with its target and version', () => {
    const choices = chooser.choose({ type: 'sentiment', query: {} }, alice, routeTarget);
    expect(choices.map((c) => [c.model?.id, c.model?.version, c.target.kind])).toEqual([
      ['small', '9', 'service'],
      ['large', '1', 'static'],
    ]);
  });

  it('pins the caller’s version on the first choice only', () => {
    const choices = chooser.choose({ type: 'sentiment', version: '4', query: {} }, alice, routeTarget);
    expect(choices.map((c) => c.model?.version)).toEqual(['4', '1']);
  });

  it('drops models the caller may not use, and answers 403 when none is left', () => {
    const onlyLarge = new ModelChooser({
      selector,
      versions: {},
      random: seededRandom(1),
      access: {
        assertModelAllowed: (_p, m) => {
          if (m.id === 'small') throw forbidden('model_forbidden', 'no');
        },
      },
    });
    expect(
      onlyLarge.choose({ type: 'sentiment', query: {} }, alice, routeTarget).map((c) => c.model?.id),
    ).toEqual(['large']);
    const noneAllowed = new ModelChooser({
      selector,
      versions: {},
      random: seededRandom(1),
      access: {
        assertModelAllowed: () => {
          throw forbidden('model_forbidden', 'no');
        },
      },
    });
    expect(() => noneAllowed.choose({ type: 'sentiment', query: {} }, alice, routeTarget)).toThrow(/no/);
  });

  it('answers 422 when no model meets the constraints', () => {
    expect(() =>
      chooser.choose({ type: 'sentiment', query: { minAccuracy: '0.99' } }, alice, routeTarget),
    ).toThrow(expect.objectContaining({ status: 422, code: 'no_suitable_model' }));
  });

  it("passes a type the catalogue does not list to the route's service, for the model server to pick", () => {
    expect(chooser.choose({ type: 'iris-species', query: {} }, alice, routeTarget)).toEqual([
      { target: routeTarget },
    ]);
  });

  it('passes the call through unchanged when it names no model', () => {
    expect(chooser.choose({ query: {} }, alice, routeTarget)).toEqual([{ target: routeTarget }]);
  });
});
