import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthConfig, createJwtVerifier } from '../../src/gateway/auth/index.js';
import { readSection } from '../../src/kernel/config.js';

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A key-set server on loopback that can be stopped and started again on the same port. */
async function startKeyServer(body: string) {
  let server: Server | undefined;
  let port = 0;
  const open = async () => {
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(body);
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  await open();
  return {
    url: () => `http://127.0.0.1:${port}/jwks.json`,
    start: open,
    stop: () =>
      new Promise<void>((resolve) => {
        server!.closeAllConnections();
        server!.close(() => resolve());
      }),
  };
}

describe('a JWKS URL that goes away and comes back', () => {
  let keyServer: Awaited<ReturnType<typeof startKeyServer>>;
  let token: string;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    keyServer = await startKeyServer(JSON.stringify({ keys: [jwk] }));
    token = await new SignJWT({ sub: 'ada', exp: nowSeconds() + 300 })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .sign(pair.privateKey);
  });
  afterAll(async () => {
    await keyServer?.stop().catch(() => {});
  });

  const verifier = () =>
    createJwtVerifier(
      readSection(AuthConfig, { jwt: { algorithms: ['RS256'], jwksUrl: keyServer.url() } }).jwt!,
    );

  it('keeps verifying with keys already fetched, answers 503 jwks_unavailable where none were, and recovers', async () => {
    const warm = verifier();
    expect((await warm.verify(token)).id).toBe('ada');

    await keyServer.stop();
    // Keys fetched before the outage keep verifying.
    expect((await warm.verify(token)).id).toBe('ada');
    // A process that has not fetched them cannot check the token: 503, retry later.
    const cold = verifier();
    await expect(cold.verify(token)).rejects.toMatchObject({
      status: 503,
      code: 'jwks_unavailable',
      details: { dependency: 'jwks', retryAfterSeconds: 5 },
    });

    await keyServer.start();
    expect((await cold.verify(token)).id).toBe('ada');
  });
});
