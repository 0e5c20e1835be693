import { CloudEvent } from 'cloudevents';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkEnvelope, IsoTimes } from '../../src/events/cloud-event-envelope.js';
import { AimeshError } from '../../src/kernel/errors.js';

const defaults = { id: () => 'generated-id', now: () => Date.parse('2030-01-01T00:00:00Z') };
const check = (input: Record<string, unknown>) => checkEnvelope(input, 'event', defaults);

describe('CloudEvents envelope check', () => {
  it('fills in a missing id and time, keeps the extensions', () => {
    expect(check({ type: 't', source: '/s', correlationid: 'c', traceparent: 'tp' })).toEqual({
      id: 'generated-id',
      type: 't',
      source: '/s',
      time: '2030-01-01T00:00:00.000Z',
      correlationid: 'c',
      traceparent: 'tp',
    });
  });

  it('rejects what CloudEvents 1.0 forbids, naming the attribute', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ type: 't' }, /source must be a non-empty string, got nothing/],
      [{ type: '', source: '/s' }, /type must be a non-empty string/],
      [{ id: 5, type: 't', source: '/s' }, /id must be a non-empty string, got 5/],
      [{ type: 't', source: 'a b' }, /source must be a URI reference/],
      [{ type: 't', source: '/s', specversion: '0.3' }, /specversion must be "1.0"/],
      [{ type: 't', source: '/s', subject: '' }, /subject must be a non-empty string/],
      [{ type: 't', source: '/s', time: 'noon' }, /time is not a valid RFC 3339 time/],
      [{ type: 't', source: '/s', dataschema: 'not a uri' }, /dataschema must be an absolute URI/],
      [{ type: 't', source: '/s', causationid: {} }, /causationid must be a non-empty string/],
    ];
    for (const [input, message] of cases) {
      expect(() => check(input), JSON.stringify(input)).toThrow(message);
    }
  });

  it('accepts only envelopes the cloudevents package also accepts as valid CloudEvents 1.0', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('/a', 'urn:x:y', 'https://h/p', 'a b', '%zz'),
    );
    fc.assert(
      fc.property(
        fc.record(
          {
            id: fc.oneof(text, fc.integer()),
            type: text,
            source: text,
            subject: text,
            dataschema: text,
            time: fc.oneof(
              fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
              fc.string({ maxLength: 8 }),
            ),
            correlationid: text,
          },
          { requiredKeys: ['type', 'source'] },
        ),
        (input) => {
          let envelope: ReturnType<typeof check>;
          try {
            envelope = check(input);
          } catch (error) {
            expect(error).toBeInstanceOf(AimeshError);
            return;
          }
          expect(
            () => new CloudEvent({ ...envelope, datacontenttype: 'application/json' }, true),
          ).not.toThrow();
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('IsoTimes', () => {
  it('formats any sequence of times exactly as toISOString, repeats and invalid dates included', () => {
    const times = new IsoTimes();
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 4_102_444_800_000 }), fc.constant(Number.NaN)), {
          maxLength: 30,
        }),
        (values) => {
          for (const ms of [...values, ...values]) {
            const date = new Date(ms);
            expect(times.of(date.getTime(), date)).toBe(Number.isNaN(ms) ? '' : date.toISOString());
          }
        },
      ),
    );
  });
});
