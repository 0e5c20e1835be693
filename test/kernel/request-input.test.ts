import { Type } from '@sinclair/typebox';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { role } from '../../src/kernel/access.js';
import { AimeshError } from '../../src/kernel/errors.js';
import { createHttpServer, type HttpServer } from '../../src/kernel/http.js';
import { createLogger } from '../../src/kernel/logger.js';
import {
  checkRequestValues,
  MAX_JSON_DEPTH,
  parseJsonBody,
  unstorableText,
} from '../../src/kernel/request-input.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return error as AimeshError;
  }
  throw new Error('expected a refusal');
};

describe('request input rules', () => {
  it('parses ordinary JSON, unicode included', () => {
    expect(parseJsonBody(bytes('{"a":[1,2.5,{"b":"é😀"}],"c":null}'))).toEqual({
      a: [1, 2.5, { b: 'é😀' }],
      c: null,
    });
  });

  it(`accepts ${MAX_JSON_DEPTH} levels of nesting and refuses one more with json_too_deep`, () => {
    expect(() => parseJsonBody(bytes(nested(MAX_JSON_DEPTH)))).not.toThrow();
    const error = refusal(() => parseJsonBody(bytes(`{"x":${nested(MAX_JSON_DEPTH)}}`)));
    expect(error).toMatchObject({ status: 400, code: 'json_too_deep' });
    expect(refusal(() => parseJsonBody(bytes(nested(100_000))))).toMatchObject({ code: 'json_too_deep' });
  });

  it('refuses NUL and lone surrogates in values and keys with invalid_character, naming the place', () => {
    expect(refusal(() => parseJsonBody(bytes('{"id":"a\\u0000b"}')))).toMatchObject({
      status: 400,
      code: 'invalid_character',
      message: 'body/id contains a NUL character (U+0000)',
    });
    expect(refusal(() => parseJsonBody(bytes('{"t":{"k\\u0000":1}}')))).toMatchObject({
      code: 'invalid_character',
    });
    expect(refusal(() => parseJsonBody(bytes('["ok","\\ud800"]')))).toMatchObject({
      code: 'invalid_character',
      message: 'body/1 contains a lone UTF-16 surrogate',
    });
    expect(refusal(() => parseJsonBody(bytes('"\\udc00x"')))).toMatchObject({ code: 'invalid_character' });
    // A proper pair is a character like any other.
    expect(parseJsonBody(bytes('"\\ud83d\\ude00"'))).toBe('😀');
  });

  it('refuses bytes that are not UTF-8 with invalid_encoding', () => {
    expect(refusal(() => parseJsonBody(new Uint8Array([0x22, 0xff, 0xfe, 0x22])))).toMatchObject({
      status: 400,
      code: 'invalid_encoding',
    });
  });

  it('refuses numbers that are not finite with number_out_of_range', () => {
    expect(refusal(() => parseJsonBody(bytes('{"limit":1e999}')))).toMatchObject({
      code: 'number_out_of_range',
    });
    expect(refusal(() => parseJsonBody(bytes('[-1e400]')))).toMatchObject({ code: 'number_out_of_range' });
  });

  it('refuses prototype-poisoning keys as Fastify does', () => {
    expect(refusal(() => parseJsonBody(bytes('{"__proto__":{"admin":true}}')))).toMatchObject({
      code: 'invalid_json',
    });
    expect(refusal(() => parseJsonBody(bytes('{"constructor":{"prototype":{}}}')))).toMatchObject({
      code: 'invalid_json',
    });
  });

  it('refuses query and path values PostgreSQL cannot take', () => {
    expect(() => checkRequestValues('querystring', { type: 'a', limit: 5, tags: ['x', 'y'] })).not.toThrow();
    expect(refusal(() => checkRequestValues('querystring', { type: '\u0000' }))).toMatchObject({
      code: 'invalid_character',
      message: 'querystring/type contains a NUL character (U+0000)',
    });
    expect(
      refusal(() => checkRequestValues('querystring', { limit: Number.POSITIVE_INFINITY })),
    ).toMatchObject({
      code: 'number_out_of_range',
    });
    expect(refusal(() => checkRequestValues('querystring', { after: 1e20 }))).toMatchObject({
      code: 'number_out_of_range',
    });
    expect(refusal(() => checkRequestValues('params', { id: 'x\ud800' }))).toMatchObject({
      code: 'invalid_character',
    });
    expect(unstorableText('plain')).toBeUndefined();
  });

  it('answers any byte string with a value or a 400, never another error (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.json().map(bytes)), (raw) => {
        try {
          parseJsonBody(raw, 8);
        } catch (error) {
          expect(error).toBeInstanceOf(AimeshError);
          expect((error as AimeshError).status).toBe(400);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('the HTTP server applies the rules to every route', () => {
  let app: HttpServer;
  beforeAll(async () => {
    app = await createHttpServer({ logger: createLogger('silent'), bodyLimitBytes: 1 << 20 });
    app.post('/echo', { config: role('public') }, async (request) => ({ body: request.body }));
    app.get(
      '/items/:id',
      {
        config: role('public'),
        schema: { querystring: Type.Object({ limit: Type.Optional(Type.Integer({ maximum: 1000 })) }) },
      },
      async (request) => ({ params: request.params, query: request.query }),
    );
    await app.ready();
  });
  afterAll(() => app.close());

  const post = (payload: string | Buffer) =>
    app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload });

  it('answers each kind of bad input with 400 and the common error shape', async () => {
    for (const [payload, code] of [
      [`{"a":${nested(10_000)}}`, 'json_too_deep'],
      ['{"a":"\\u0000"}', 'invalid_character'],
      [Buffer.from([0x7b, 0x22, 0xc3, 0x22, 0x3a, 0x31, 0x7d]), 'invalid_encoding'],
      ['{"a":1e999}', 'number_out_of_range'],
      ['{"a":', 'invalid_json'],
      ['', 'empty_body'],
    ] as const) {
      const response = await post(payload);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ error: { code, message: expect.any(String) } });
    }
    expect((await post('{"a":[1,{"b":"ok"}]}')).json()).toEqual({ body: { a: [1, { b: 'ok' }] } });
  });

  it('refuses NUL in a path parameter or query value and numbers a schema coerced to infinity', async () => {
    for (const url of ['/items/%00', '/items/a?x=%00', '/items/a?limit=1e999', '/items/a?limit=-1e999']) {
      const response = await app.inject(url);
      expect(response.statusCode, url).toBe(400);
      expect(response.json().error.code).toMatch(/^(invalid_character|number_out_of_range)$/);
    }
    expect((await app.inject('/items/a?limit=7')).json()).toEqual({
      params: { id: 'a' },
      query: { limit: 7 },
    });
  });
});
