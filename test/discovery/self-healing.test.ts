import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import type { DiscoveryModuleApi } from '../../src/discovery/index.js';
import { serviceHeaders, startTestAimesh } from '../support/aimesh.js';

const ADMIN = 'self-healing-admin-token-012345';
const TTL_MS = 6_000; // heartbeats every 2 s

/** Polls `check` every 100 ms until it returns true, for at most `ms`. */
async function eventually(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

describe('discovery heals: a removed registration comes back with its owner’s next heartbeat', () => {
  let aimesh: RunningAimesh;
  let discovery: DiscoveryModuleApi;
  let key: string;

  const infer = () =>
    fetch(`${aimesh.url}/api/v1/ai/inference`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ inputs: [[1]] }),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: { code?: string } } }));

  beforeAll(async () => {
    aimesh = await startTestAimesh({
      config: { gateway: { auth: { adminToken: ADMIN } }, inference: { discoveryTtlMs: TTL_MS } },
    });
    discovery = aimesh.manager.api('discovery') as DiscoveryModuleApi;
    const created = await fetch(`${aimesh.url}/api/v1/admin/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ owner: 'caller' }),
    });
    key = ((await created.json()) as { key: string }).key;
  }, 120_000);
  afterAll(() => aimesh?.stop());

  it('DELETE of the model server’s instance: readiness says so, then within a few heartbeats it is back and calls reach it', async () => {
    const [instance] = discovery.instances('model-inference');
    expect(instance).toBeDefined();
    // The gateway reaches the model server, which answers for itself (no model named: missing_model).
    expect((await infer()).body.error?.code).toBe('missing_model');

    const removed = await fetch(`${aimesh.url}/api/v1/discovery/instances/${instance.id}`, {
      method: 'DELETE',
      headers: serviceHeaders(),
    });
    expect(removed.status).toBe(204);
    expect(discovery.instances('model-inference').map((i) => i.id)).not.toContain(instance.id);
    const readiness = await fetch(`${aimesh.url}/readyz`);
    expect(readiness.status).toBe(503);
    expect(JSON.stringify(await readiness.json())).toContain(instance.id);

    // Back under the same id within three heartbeats, and the gateway routes to it again.
    expect(
      await eventually(
        () => discovery.instances('model-inference').some((i) => i.id === instance.id),
        3 * (TTL_MS / 3) + 500,
      ),
    ).toBe(true);
    expect(discovery.instances('model-inference')[0].metadata).toEqual(instance.metadata);
    expect(await eventually(async () => (await infer()).body.error?.code === 'missing_model', 2_000)).toBe(
      true,
    );
    expect((await fetch(`${aimesh.url}/readyz`)).status).toBe(200);
  });
});
