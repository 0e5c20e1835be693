import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthConfig, createJwtVerifier } from '../../../src/gateway/auth/index.js';
import { systemClock } from '../../../src/kernel/clock.js';
import { readSection } from '../../../src/kernel/config.js';
import { startAuthServer } from './auth-server.js';

const SECRET = 'a-shared-secret-of-at-least-32-characters!';
const ISSUER = 'https://issuer.aimesh.test';
const AUDIENCE = 'aimesh-gateway';

type Keys = Awaited<ReturnType<typeof generateKeyPair>>;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('JWT bearer tokens', () => {
  let rsa: Keys;
  let ec: Keys;
  let jwks: Server;
  let server: Awaited<ReturnType<typeof startAuthServer>>;

  beforeAll(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    ec = await generateKeyPair('ES256', { extractable: true });
    const keys: JWK[] = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ];
    jwks = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const port = (jwks.address() as { port: number }).port;
    server = await startAuthServer({
      clock: systemClock,
      config: {
        jwt: {
          algorithms: ['RS256', 'ES256', 'HS256'],
          secret: SECRET,
          jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
          issuer: ISSUER,
          audience: AUDIENCE,
          teamClaim: 'org',
          clockToleranceSeconds: 0,
        },
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await new Promise((resolve) => jwks?.close(resolve));
  });

  function token(overrides: Record<string, unknown> = {}) {
    const now = nowSeconds();
    return new SignJWT({
      sub: 'erin',
      iss: ISSUER,
      aud: AUDIENCE,
      iat: now,
      exp: now + 300,
      org: 'research',
      ...overrides,
    });
  }

  async function guarded(bearer: string) {
    const response = await fetch(`${server.url}/guarded`, { headers: { authorization: `Bearer ${bearer}` } });
    return { status: response.status, body: await response.json() };
  }

  it('accepts an RS256 token from the JWKS: subject is the principal, the team claim its team', async () => {
    const jwt = await token().setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).sign(rsa.privateKey);
    expect(await guarded(jwt)).toEqual({
      status: 200,
      body: { id: 'erin', team: 'research', roles: ['caller'], via: 'jwt' },
    });
  });

  it('accepts ES256 from the JWKS and HS256 with the shared secret', async () => {
    const es = await token().setProtectedHeader({ alg: 'ES256', kid: 'ec-1' }).sign(ec.privateKey);
    expect((await guarded(es)).status).toBe(200);
    const hs = await token().setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
    expect((await guarded(hs)).status).toBe(200);
  });

  it('rejects a token signed by a key outside the JWKS (forged) with 401 invalid_token', async () => {
    const forger = await generateKeyPair('RS256');
    const jwt = await token().setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).sign(forger.privateKey);
    expect(await guarded(jwt)).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } });
  });

  it('rejects an HS256 token signed with a wrong secret', async () => {
    const jwt = await token()
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('another-secret-that-is-also-long-enough'));
    expect(await guarded(jwt)).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } });
  });

  it("rejects alg 'none'", async () => {
    const claims = { sub: 'erin', iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() + 300 };
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    expect(await guarded(unsigned)).toMatchObject({
      status: 401,
      body: { error: { code: 'invalid_token' } },
    });
  });

  it('rejects algorithm confusion: HS256 signed with the RSA public key as the secret', async () => {
    const publicPem = await exportSPKI(rsa.publicKey);
    const header = b64({ alg: 'HS256', typ: 'JWT', kid: 'rsa-1' });
    const payload = b64({ sub: 'erin', iss: ISSUER, aud: AUDIENCE, exp: nowSeconds() + 300 });
    const signature = createHmac('sha256', publicPem).update(`${header}.${payload}`).digest('base64url');
    expect(await guarded(`${header}.${payload}.${signature}`)).toMatchObject({
      status: 401,
      body: { error: { code: 'invalid_token' } },
    });
  });

  it.each([
    ['a wrong audience', { aud: 'someone-else' }],
    ['a wrong issuer', { iss: 'https://evil.test' }],
    ['an expired token', { exp: nowSeconds() - 60 }],
    ['a token not valid yet', { nbf: nowSeconds() + 600 }],
  ])('rejects %s with 401 invalid_token', async (_what, claims) => {
    const jwt = await token(claims).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).sign(rsa.privateKey);
    expect(await guarded(jwt)).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } });
  });

  it('rejects an algorithm outside the allow-list', async () => {
    const rs384 = await generateKeyPair('RS384');
    const jwt = await token().setProtectedHeader({ alg: 'RS384', kid: 'rsa-1' }).sign(rs384.privateKey);
    expect(await guarded(jwt)).toMatchObject({ status: 401, body: { error: { code: 'invalid_token' } } });
  });

  it('rejects a token without a subject and garbage that is not a JWT', async () => {
    const anonymous = await new SignJWT({})
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
      .sign(rsa.privateKey);
    expect((await guarded(anonymous)).status).toBe(401);
    expect(await guarded('eyJ.not.a-jwt')).toMatchObject({
      status: 401,
      body: { error: { code: 'invalid_token' } },
    });
  });
});

describe('JWT keys from a JWKS file', () => {
  it('verifies ES256 tokens against the keys in the file and rejects others', async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const dir = mkdtempSync(join(tmpdir(), 'aimesh-jwks-'));
    const file = join(dir, 'jwks.json');
    writeFileSync(
      file,
      JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }),
    );
    const verifier = createJwtVerifier(
      readSection(AuthConfig, { jwt: { algorithms: ['ES256'], jwksFile: file, audience: AUDIENCE } }).jwt!,
    );
    const sign = (key: CryptoKey) =>
      new SignJWT({ sub: 'svc', aud: AUDIENCE, exp: nowSeconds() + 60 })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .sign(key);
    await expect(verifier.verify(await sign(pair.privateKey as CryptoKey))).resolves.toMatchObject({
      id: 'svc',
      via: 'jwt',
    });
    const other = await generateKeyPair('ES256');
    await expect(verifier.verify(await sign(other.privateKey as CryptoKey))).rejects.toMatchObject({
      status: 401,
      code: 'invalid_token',
    });
  });
});

describe('JWT keys from an unreachable JWKS URL', () => {
  it('answers 503 jwks_unavailable with a retry time rather than blaming the caller', async () => {
    const pair = await generateKeyPair('RS256');
    const verifier = createJwtVerifier(
      readSection(AuthConfig, { jwt: { algorithms: ['RS256'], jwksUrl: 'http://127.0.0.1:1/jwks.json' } })
        .jwt!,
    );
    const jwt = await new SignJWT({ sub: 'x', exp: nowSeconds() + 60 })
      .setProtectedHeader({ alg: 'RS256', kid: 'k' })
      .sign(pair.privateKey);
    await expect(verifier.verify(jwt)).rejects.toMatchObject({
      status: 503,
      code: 'jwks_unavailable',
      details: { dependency: 'jwks', retryAfterSeconds: 5 },
    });
  });
});
