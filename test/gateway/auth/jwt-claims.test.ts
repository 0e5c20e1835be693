import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthConfig, createJwtVerifier, parseExpiresIn } from '../../../src/gateway/auth/index.js';
import { readSection } from '../../../src/kernel/config.js';

const SECRET = 'a-shared-secret-of-at-least-32-characters!';
const ISSUER = 'https://issuer.aimesh.test';
const AUDIENCE = 'aimesh-gateway';
const secretKey = new TextEncoder().encode(SECRET);
const nowSeconds = () => Math.floor(Date.now() / 1000);

const verifierFor = (jwt: Record<string, unknown>) =>
  createJwtVerifier(readSection(AuthConfig, { jwt }, '/gateway/auth').jwt!);

/** A correctly signed HS256 token with every claim, minus those named in `omit`. */
function hs256(claims: Record<string, unknown> = {}, omit: string[] = [], alg = 'HS256') {
  const all: Record<string, unknown> = {
    sub: 'erin',
    iss: ISSUER,
    aud: AUDIENCE,
    iat: nowSeconds(),
    exp: nowSeconds() + 300,
    ...claims,
  };
  for (const name of omit) delete all[name];
  return new SignJWT(all).setProtectedHeader({ alg }).sign(secretKey);
}

describe('JWT roles claim', () => {
  const verifier = verifierFor({ algorithms: ['HS256'], secret: SECRET });
  const rolesOf = async (roles: unknown) =>
    (await verifier.verify(await hs256(roles === undefined ? {} : { roles }))).roles;

  it('reads an array, or a string split at spaces and commas, keeping each role once', async () => {
    expect(await rolesOf(['operator', 'admin'])).toEqual(['operator', 'admin']);
    expect(await rolesOf('operator admin')).toEqual(['operator', 'admin']);
    expect(await rolesOf('operator,service')).toEqual(['operator', 'service']);
    expect(await rolesOf('operator, \tadmin')).toEqual(['operator', 'admin']);
    expect(await rolesOf(['operator', 'operator'])).toEqual(['operator']);
  });

  it('drops names that are not roles, and a token naming none is a caller', async () => {
    expect(await rolesOf(['root', 'operator', 5])).toEqual(['operator']);
    expect(await rolesOf(['root', 5])).toEqual(['caller']);
    expect(await rolesOf('')).toEqual(['caller']);
    expect(await rolesOf(7)).toEqual(['caller']);
    expect(await rolesOf({ admin: true })).toEqual(['caller']);
    expect(await rolesOf(undefined)).toEqual(['caller']);
  });

  it('reads the claim that gateway.auth.jwt.rolesClaim names (default roles)', async () => {
    expect(readSection(AuthConfig, { jwt: {} }).jwt!.rolesClaim).toBe('roles');
    const groups = verifierFor({ algorithms: ['HS256'], secret: SECRET, rolesClaim: 'groups' });
    const token = await hs256({ roles: ['admin'], groups: ['operator'] });
    expect((await groups.verify(token)).roles).toEqual(['operator']);
  });
});

describe('JWT claims, one at a time, on correctly signed tokens', () => {
  const verifier = verifierFor({
    algorithms: ['HS256'],
    secret: SECRET,
    issuer: ISSUER,
    audience: AUDIENCE,
    clockToleranceSeconds: 0,
  });

  it('accepts a token with sub, exp, iss and aud', async () => {
    await expect(verifier.verify(await hs256())).resolves.toEqual({
      id: 'erin',
      roles: ['caller'],
      via: 'jwt',
      team: undefined,
    });
  });

  it.each(['exp', 'sub', 'iss', 'aud'])('rejects a token without %s', async (claim) => {
    await expect(verifier.verify(await hs256({}, [claim]))).rejects.toMatchObject({
      status: 401,
      code: 'invalid_token',
      message: expect.stringContaining(claim),
    });
  });

  it('rejects a token that expired a second ago when no leeway is configured', async () => {
    await expect(verifier.verify(await hs256({ exp: nowSeconds() - 1 }))).rejects.toMatchObject({
      status: 401,
      message: expect.stringContaining('expired'),
    });
  });

  it('accepts a token that expired within the leeway (30 s by default)', async () => {
    const lenient = verifierFor({ algorithms: ['HS256'], secret: SECRET });
    expect(readSection(AuthConfig, { jwt: {} }).jwt!.clockToleranceSeconds).toBe(30);
    await expect(lenient.verify(await hs256({ exp: nowSeconds() - 20 }))).resolves.toMatchObject({
      id: 'erin',
    });
    await expect(lenient.verify(await hs256({ exp: nowSeconds() - 60 }))).rejects.toMatchObject({
      status: 401,
    });
  });

  it('takes the team from the configured claim, and none from an empty one', async () => {
    const teams = verifierFor({ algorithms: ['HS256'], secret: SECRET, teamClaim: 'org' });
    await expect(teams.verify(await hs256({ org: 'research', team: 'x' }))).resolves.toMatchObject({
      team: 'research',
    });
    await expect(teams.verify(await hs256({ org: '' }))).resolves.toMatchObject({ team: undefined });
  });
});

describe('JWT algorithms: only those in the list, each tried with a correctly signed token', () => {
  let dir: string;
  let privateKey: KeyObject;
  let jwksFile: string;

  beforeAll(async () => {
    // A Node key object is not bound to one hash, so the same key signs RS256 and RS384.
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    privateKey = pair.privateKey;
    dir = mkdtempSync(join(tmpdir(), 'aimesh-jwks-'));
    jwksFile = join(dir, 'jwks.json');
    // No `alg` on the key: it may sign RS256 and RS384 alike, so only the list decides.
    writeFileSync(
      jwksFile,
      JSON.stringify({ keys: [{ ...pair.publicKey.export({ format: 'jwk' }), kid: 'k1' }] }),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const rs = (alg: string) =>
    new SignJWT({ sub: 'svc', exp: nowSeconds() + 60 })
      .setProtectedHeader({ alg, kid: 'k1' })
      .sign(privateKey);

  it('accepts RS256 and ES256 by default and nothing symmetric', () => {
    expect(readSection(AuthConfig, { jwt: {} }).jwt!.algorithms).toEqual(['RS256', 'ES256']);
  });

  it('refuses HS384 when only HS256 is listed, though it is signed with the shared secret', async () => {
    const only256 = verifierFor({ algorithms: ['HS256'], secret: SECRET });
    await expect(only256.verify(await hs256({}, [], 'HS384'))).rejects.toMatchObject({
      status: 401,
      code: 'invalid_token',
      message: "tokens signed with 'HS384' are not accepted",
    });
    await expect(only256.verify(await hs256({}, [], 'HS256'))).resolves.toMatchObject({ id: 'erin' });
    const both = verifierFor({ algorithms: ['HS256', 'HS384'], secret: SECRET });
    await expect(both.verify(await hs256({}, [], 'HS384'))).resolves.toMatchObject({ id: 'erin' });
  });

  it('refuses RS384 when only RS256 is listed, though the key set holds its key', async () => {
    const only256 = verifierFor({ algorithms: ['RS256'], jwksFile });
    await expect(only256.verify(await rs('RS384'))).rejects.toMatchObject({
      status: 401,
      message: "tokens signed with 'RS384' are not accepted",
    });
    await expect(only256.verify(await rs('RS256'))).resolves.toMatchObject({ id: 'svc' });
    const both = verifierFor({ algorithms: ['RS256', 'RS384'], jwksFile });
    await expect(both.verify(await rs('RS384'))).resolves.toMatchObject({ id: 'svc' });
  });

  it('refuses HS256 when the list has only asymmetric algorithms, even with a secret set', async () => {
    const asymmetric = verifierFor({ algorithms: ['RS256'], secret: SECRET, jwksFile });
    await expect(asymmetric.verify(await hs256())).rejects.toMatchObject({
      message: "tokens signed with 'HS256' are not accepted",
    });
  });

  it('refuses HS256 when no secret is configured', async () => {
    const keyless = verifierFor({ algorithms: ['HS256', 'RS256'], jwksFile });
    await expect(keyless.verify(await hs256())).rejects.toMatchObject({
      message: "tokens signed with 'HS256' are not accepted",
    });
  });
});

describe('JWT refusals say why', () => {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const verifier = verifierFor({ algorithms: ['HS256'], secret: SECRET, audience: AUDIENCE });

  it.each([
    ['garbage', 'the bearer token is not a well-formed JWT'],
    [`${b64({ typ: 'JWT' })}.${b64({ sub: 'x' })}.`, "tokens signed with 'none' are not accepted"],
    [`${b64({ alg: 'none' })}.${b64({ sub: 'x' })}.`, "tokens signed with 'none' are not accepted"],
  ])('refuses %s', async (token, message) => {
    await expect(verifier.verify(token)).rejects.toMatchObject({
      status: 401,
      code: 'invalid_token',
      message,
    });
  });

  it('names a bad signature and a wrong audience', async () => {
    const forged = await new SignJWT({ sub: 'x', aud: AUDIENCE, exp: nowSeconds() + 60 })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('another-secret-that-is-also-long-enough'));
    await expect(verifier.verify(forged)).rejects.toMatchObject({
      message: 'the bearer token was rejected: its signature does not verify',
    });
    await expect(verifier.verify(await hs256({ aud: 'elsewhere' }))).rejects.toMatchObject({
      message: expect.stringMatching(/^the bearer token was rejected: .*aud/),
    });
  });

  it('answers 503 jwks_unavailable when the JWKS URL cannot be reached', async () => {
    const remote = verifierFor({ algorithms: ['RS256'], jwksUrl: 'http://127.0.0.1:1/jwks.json' });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const token = await new SignJWT({ sub: 'x', exp: nowSeconds() + 60 })
      .setProtectedHeader({ alg: 'RS256', kid: 'k' })
      .sign(privateKey);
    await expect(remote.verify(token)).rejects.toMatchObject({
      status: 503,
      code: 'jwks_unavailable',
      message: expect.stringContaining('cannot check the token: the key set is unreachable'),
      details: { retryAfterSeconds: 5 },
    });
  });

  it('says so when no key of the key set has the token’s key id', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const file = jwksFileWith({ ...pair.publicKey.export({ format: 'jwk' }), kid: 'k1' });
    const token = await new SignJWT({ sub: 'x', exp: nowSeconds() + 60 })
      .setProtectedHeader({ alg: 'RS256', kid: 'k2' })
      .sign(pair.privateKey);
    await expect(verifierFor({ algorithms: ['RS256'], jwksFile: file }).verify(token)).rejects.toMatchObject({
      status: 401,
      message: 'the bearer token was rejected: no key of the key set matches it',
    });
  });

  it('passes on what jose says of a token it cannot read', async () => {
    const [header, payload] = (await hs256({ aud: AUDIENCE })).split('.');
    await expect(verifier.verify(`${header}.${payload}.!!!`)).rejects.toMatchObject({
      status: 401,
      message: 'the bearer token was rejected: Failed to base64url decode the signature',
    });
  });

  it('refuses with 401 a token whose key in the set is too short, though that is a TypeError', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const file = jwksFileWith({ ...pair.publicKey.export({ format: 'jwk' }), kid: 'k1' });
    // jose will not sign with so short a key; node:crypto signs RS256 (PKCS #1 v1.5, SHA-256) as well.
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const signed = `${b64({ alg: 'RS256', kid: 'k1' })}.${b64({ sub: 'x', exp: nowSeconds() + 60 })}`;
    const token = `${signed}.${sign('sha256', Buffer.from(signed), pair.privateKey).toString('base64url')}`;
    await expect(verifierFor({ algorithms: ['RS256'], jwksFile: file }).verify(token)).rejects.toMatchObject({
      status: 401,
      code: 'invalid_token',
      message: 'the bearer token was rejected: RS256 requires key modulusLength to be 2048 bits or larger',
    });
  });
});

/** A JWKS file in a fresh directory, removed when the run ends. */
function jwksFileWith(key: object): string {
  const dir = mkdtempSync(join(tmpdir(), 'aimesh-jwks-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'jwks.json');
  writeFileSync(file, JSON.stringify({ keys: [key] }));
  return file;
}

/**
 * A key-set server on loopback that fails the ways a real one does: `/malformed` answers a body
 * that is no key set, `/silent` never answers.
 */
describe('JWT key set served badly', () => {
  let server: Server;
  let url: string;
  const held: ServerResponse[] = [];
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const token = () =>
    new SignJWT({ sub: 'x', exp: nowSeconds() + 60 })
      .setProtectedHeader({ alg: 'RS256', kid: 'k' })
      .sign(privateKey);

  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/malformed') {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":"none"}');
      } else held.push(response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const response of held) response.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('answers 503 jwks_unavailable when the key set is malformed', async () => {
    const remote = verifierFor({ algorithms: ['RS256'], jwksUrl: `${url}/malformed` });
    await expect(remote.verify(await token())).rejects.toMatchObject({
      status: 503,
      code: 'jwks_unavailable',
      details: { retryAfterSeconds: 5 },
    });
  });

  it('answers 503 jwks_unavailable once the key set has not answered for 5 s', {
    timeout: 15_000,
  }, async () => {
    const remote = verifierFor({ algorithms: ['RS256'], jwksUrl: `${url}/silent` });
    const started = Date.now();
    await expect(remote.verify(await token())).rejects.toMatchObject({
      status: 503,
      code: 'jwks_unavailable',
      message: expect.stringContaining('cannot check the token: the key set is unreachable'),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
  });
});

describe('Key lifetimes at their edges', () => {
  it('trim blanks, and refuse zero, extra characters and more than ten years', () => {
    expect(parseExpiresIn(' 30d ')).toBe(30 * 86_400_000);
    expect(parseExpiresIn('3650d')).toBe(3650 * 86_400_000);
    for (const raw of ['0s', 'x30d', '30dx', '3651d'])
      expect(() => parseExpiresIn(raw)).toThrow(expect.objectContaining({ code: 'invalid_expiry' }));
  });
});
