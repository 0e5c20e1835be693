import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalPath, canonicalUrl } from '../../src/kernel/canonical-path.js';

describe('the canonical request path', () => {
  it.each([
    ['/v1/chat/completions', '/v1/chat/completions'],
    ['/%761/chat/completions', '/v1/chat/completions'],
    ['/api/v1/a%69/inference', '/api/v1/ai/inference'],
    ['/api/v1/%61%69/inference', '/api/v1/ai/inference'],
    ['/v1//chat///completions', '/v1/chat/completions'],
    ['/v1/x/../chat/./completions', '/v1/chat/completions'],
    ['/v1/x/%2e%2E/chat/completions', '/v1/chat/completions'],
    ['/../../v1/models', '/v1/models'],
    ['/a/b/..', '/a/'],
    ['/a/.', '/a/'],
    ['/v2/models/my%20model/infer', '/v2/models/my%20model/infer'],
    ['/v2/models/caf%c3%a9', '/v2/models/caf%C3%A9'],
    ['/v2/models/a%3fb', '/v2/models/a%3Fb'],
    ['/.well-known/x', '/.well-known/x'],
    ['/a.b/c', '/a.b/c'],
    ['*', '*'],
  ])('%s is %s', (path, canonical) => {
    expect(canonicalPath(path)).toBe(canonical);
  });

  it.each(['/v1%2Fchat/completions', '/v1%2fchat', '/v1/%00', '/a%5Cb', '/a%0a', '/a%7F', '/a%2', '/a%zz'])(
    'refuses the ambiguous %s',
    (path) => {
      expect(canonicalPath(path)).toBeUndefined();
    },
  );

  it('keeps the query as it came', () => {
    expect(canonicalUrl('/%761/models?after=%2F..&x=1')).toBe('/v1/models?after=%2F..&x=1');
    expect(canonicalUrl('/v1/models?x=1')).toBe('/v1/models?x=1');
  });

  it('is idempotent, starts with a slash and has no dot segment or repeated slash', () => {
    const segment = fc.oneof(
      fc.constantFrom('.', '..', '', 'a', 'v1', '%2e', '%2E%2e', '%61', '%20', 'x.y'),
      fc.stringMatching(/^[a-z0-9._~-]{1,6}$/),
    );
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 8 }), (segments) => {
        const path = `/${segments.join('/')}`;
        const once = canonicalPath(path)!;
        expect(once).toBeDefined();
        expect(once.startsWith('/')).toBe(true);
        expect(canonicalPath(once)).toBe(once);
        expect(once).not.toMatch(/\/\/|\/\.\.?(\/|$)/);
      }),
      { numRuns: 300 },
    );
  });
});
