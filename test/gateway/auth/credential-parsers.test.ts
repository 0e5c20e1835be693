import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthConfig, createGatewayAuth, parseExpiresIn } from '../../../src/gateway/auth/index.js';
import { compileGlob } from '../../../src/gateway/auth/model-pattern.js';
import { systemClock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';
import { AimeshError } from '../../../src/kernel/errors.js';
import type { Database } from '../../../src/ports/database.js';

describe('Key lifetimes', () => {
  it('reads every number with a unit s, m, h or d up to ten years', () => {
    const unitMs = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3650 }), fc.constantFrom('s', 'm', 'h', 'd'), (n, unit) => {
        expect(parseExpiresIn(`${n}${unit}`)).toBe(n * unitMs[unit as keyof typeof unitMs]);
      }),
    );
  });

  it('says what a lifetime looks like, quoting what was given', () => {
    expect(() => parseExpiresIn('30x')).toThrow(
      "expiresIn must be a positive number with a unit s, m, h or d, at most 10 years (e.g. 30d); got '30x'",
    );
  });

  it('refuses anything else with 400 invalid_expiry, never another error', () => {
    fc.assert(
      fc.property(fc.string(), (raw) => {
        try {
          const ms = parseExpiresIn(raw);
          expect(ms).toBeGreaterThan(0);
        } catch (error) {
          expect(error).toBeInstanceOf(AimeshError);
          expect((error as AimeshError).code).toBe('invalid_expiry');
        }
      }),
    );
  });
});

describe('Model globs', () => {
  it('let ? match exactly one character', () => {
    expect(compileGlob('gpt-?o').test('gpt-4o')).toBe(true);
    expect(compileGlob('gpt-?o').test('gpt-o')).toBe(false);
    expect(compileGlob('gpt-?o').test('gpt-40o')).toBe(false);
  });

  it('match a pattern without wildcards only literally, whatever characters it holds', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes('*') && !s.includes('?')),
        fc.string(),
        (pattern, other) => {
          const glob = compileGlob(pattern);
          expect(glob.test(pattern)).toBe(true);
          expect(glob.test(other)).toBe(other === pattern);
        },
      ),
    );
  });

  it('let * match any run and keep the literal parts around it', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (a, middle, b) => {
        fc.pre(!`${a}${b}`.includes('*') && !`${a}${b}`.includes('?'));
        expect(compileGlob(`${a}*${b}`).test(`${a}${middle}${b}`)).toBe(true);
      }),
    );
  });
});

describe('JWT configuration', () => {
  const unusedDb = undefined as unknown as Database;
  const start = (jwt: unknown) =>
    createGatewayAuth({ config: readSection(AuthConfig, { jwt }), db: unusedDb, clock: systemClock });

  it('refuses to start with HS algorithms and no secret, or asymmetric ones and no JWKS', () => {
    expect(() => start({ algorithms: ['HS256'] })).toThrow(/jwt\/secret/);
    expect(() => start({ algorithms: ['RS256'] })).toThrow(/jwt\/jwksUrl/);
    expect(() => start({ algorithms: ['HS256'], secret: 'x'.repeat(32) })).not.toThrow();
  });

  it('asks for a secret and a key set when the list mixes HS and asymmetric algorithms', () => {
    const mixed = ['HS256', 'RS256'];
    expect(() => start({ algorithms: mixed, jwksFile: '/nonexistent/jwks.json', secret: undefined })).toThrow(
      '/gateway/auth/jwt/secret: expected a secret for the HS* algorithms',
    );
    expect(() => start({ algorithms: mixed, secret: 'x'.repeat(32) })).toThrow(
      '/gateway/auth/jwt/jwksUrl: expected a JWKS URL or file for the RS*/PS*/ES*/EdDSA algorithms',
    );
  });

  it('refuses alg none in the allow-list and secrets shorter than 32 characters', () => {
    expect(() => readSection(AuthConfig, { jwt: { algorithms: ['none'] } })).toThrow();
    expect(() => readSection(AuthConfig, { jwt: { algorithms: ['HS256'], secret: 'short' } })).toThrow();
  });
});
