import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { startTestAimesh } from '../support/aimesh.js';
import { createTestDatabase, serviceAvailable } from '../support/services.js';

const ADMIN = 'generated-input-admin-token-0123';
/** Bodies per endpoint: 200 in CI, more with AIMESH_FUZZ_RUNS. */
const RUNS = Number(process.env.AIMESH_FUZZ_RUNS ?? 200);

const oddString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udc00x',
    '\uffff',
    '😀',
    '',
    ' ',
    '../..',
    'x'.repeat(3000),
  ),
);
const oddNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(2 ** 53, 2 ** 53 + 2, 1e20, -1e20, 2147483648, -1, 0, 1e308, 5e-324),
);
const oddValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    oddString,
    oddNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(oddString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A body: random JSON, the endpoint's fields with odd values, or either nested far too deep / not finite. */
function bodies(fields: string[]): fc.Arbitrary<string> {
  const shaped = fc
    .array(fc.tuple(fc.constantFrom(...fields), oddValue), { maxLength: fields.length + 2 })
    .map((entries) => JSON.stringify(Object.fromEntries(entries)));
  const withRaw = fc
    .tuple(
      fc.constantFrom(...fields),
      fc.constantFrom('1e999', '-1e999', '99999999999999999999', '"\\u0000"', '"\\ud800"'),
    )
    .map(([field, raw]) => `{"${field}":${raw}}`);
  const deep = fc
    .tuple(fc.constantFrom(...fields), fc.integer({ min: 60, max: 5_000 }))
    .map(([field, depth]) => `{"${field}":${'['.repeat(depth)}${']'.repeat(depth)}}`);
  return fc.oneof(shaped, fc.json(), withRaw, deep, fc.string());
}

const postgres = await serviceAvailable('postgres');

for (const adapter of ['pglite', 'postgres'] as const)
  describe.skipIf(adapter === 'postgres' && !postgres)(
    `generated input never gets a 5xx from a write endpoint (${adapter})`,
    () => {
      let aimesh: RunningAimesh;
      let database: { url: string; drop(): Promise<void> } | undefined;
      let inference: string;
      let runId: string;
      const admin = { authorization: `Bearer ${ADMIN}` };

      const send = async (
        method: string,
        url: string,
        body: string,
        headers: Record<string, string> = {},
      ) => {
        const response = await fetch(url, {
          method,
          headers: { ...admin, 'content-type': 'application/json', ...headers },
          body,
        });
        await response.arrayBuffer();
        return response.status;
      };

      beforeAll(async () => {
        if (adapter === 'postgres') database = await createTestDatabase();
        aimesh = await startTestAimesh({
          config: {
            ...(database ? { database: { adapter: 'postgres', url: database.url, poolSize: 4 } } : {}),
            gateway: { auth: { adminToken: ADMIN } },
          },
        });
        inference = (aimesh.manager.api('inference') as { url: string }).url;
        const api = `${aimesh.url}/api/v1`;
        await send('POST', `${api}/models`, JSON.stringify({ name: 'fuzz', type: 'x' }));
        await send(
          'POST',
          `${api}/models/fuzz/versions`,
          JSON.stringify({ format: 'onnx', artifactUri: 'u' }),
        );
        await send('POST', `${api}/experiments`, JSON.stringify({ name: 'fuzz' }));
        const run = await fetch(`${api}/experiments/fuzz/runs`, {
          method: 'POST',
          headers: { ...admin, 'content-type': 'application/json' },
          body: '{}',
        });
        runId = ((await run.json()) as { id: string }).id;
      }, 120_000);
      afterAll(async () => {
        await aimesh?.stop();
        await database?.drop();
      });

      const endpoints: [string, string, () => string, string[], Record<string, string>?][] = [
        [
          'POST',
          'events',
          () => `${aimesh.url}/api/v1/events`,
          [
            'id',
            'type',
            'source',
            'time',
            'subject',
            'data',
            'correlationid',
            'causationid',
            'datacontenttype',
          ],
        ],
        ['POST', 'models', () => `${aimesh.url}/api/v1/models`, ['name', 'type', 'description', 'tags']],
        [
          'POST',
          'model versions',
          () => `${aimesh.url}/api/v1/models/fuzz/versions`,
          [
            'format',
            'artifactUri',
            'artifacts',
            'metrics',
            'params',
            'runId',
            'experimentId',
            'dataset',
            'datasetVersion',
            'status',
          ],
        ],
        [
          'PUT',
          'aliases',
          () => `${aimesh.url}/api/v1/models/fuzz/aliases/staging`,
          ['version', 'causationId'],
        ],
        ['POST', 'experiments', () => `${aimesh.url}/api/v1/experiments`, ['name', 'description', 'tags']],
        [
          'PATCH',
          'experiment update',
          () => `${aimesh.url}/api/v1/experiments/fuzz`,
          ['description', 'status', 'tags'],
        ],
        [
          'POST',
          'runs',
          () => `${aimesh.url}/api/v1/experiments/fuzz/runs`,
          ['name', 'params', 'tags', 'datasetVersions', 'artifactUri'],
        ],
        [
          'PATCH',
          'run update',
          () => `${aimesh.url}/api/v1/runs/${runId}`,
          ['status', 'artifactUri', 'tags'],
        ],
        [
          'POST',
          'log-batch',
          () => `${aimesh.url}/api/v1/runs/${runId}/log-batch`,
          ['metrics', 'params', 'tags'],
        ],
        [
          'POST',
          'run search',
          () => `${aimesh.url}/api/v1/runs/search`,
          ['experimentIds', 'filter', 'orderBy', 'limit', 'offset'],
        ],
        [
          'POST',
          'dataset validate',
          () => `${aimesh.url}/api/v1/datasets/iris/versions/latest/validate`,
          ['columns'],
        ],
        [
          'POST',
          'lineage',
          () => `${aimesh.url}/api/v1/lineage`,
          ['eventType', 'eventTime', 'run', 'job', 'inputs', 'outputs', 'producer'],
        ],
        [
          'POST',
          'discovery',
          () => `${aimesh.url}/api/v1/discovery/instances`,
          ['service', 'url', 'metadata', 'ttlMs'],
        ],
        [
          'POST',
          'api keys',
          () => `${aimesh.url}/api/v1/admin/keys`,
          ['owner', 'team', 'name', 'expiresIn'],
          admin,
        ],
        [
          'POST',
          'chat completions',
          () => `${aimesh.url}/v1/chat/completions`,
          ['model', 'messages', 'stream'],
        ],
        [
          'POST',
          'inference',
          () => `${inference}/api/v1/ai/inference`,
          ['modelId', 'modelType', 'version', 'inputs'],
        ],
        [
          'POST',
          'V2 infer',
          () => `${inference}/v2/models/fuzz/infer`,
          ['id', 'inputs', 'outputs', 'parameters'],
        ],
        ['POST', 'repository load', () => `${inference}/v2/repository/models/fuzz/load`, ['parameters']],
        ['PUT', 'repository canary', () => `${inference}/v2/repository/models/fuzz/canary`, ['weights']],
      ];

      for (const [method, name, url, fields, headers] of endpoints) {
        it(`${method} ${name}: ${RUNS} generated bodies, no 5xx`, async () => {
          await fc.assert(
            fc.asyncProperty(bodies(fields), async (body) => {
              const status = await send(method, url(), body, headers);
              expect(status, body.slice(0, 200)).toBeLessThan(500);
            }),
            { numRuns: RUNS },
          );
        }, 120_000);
      }

      it('is still live and ready afterwards', async () => {
        expect((await fetch(`${aimesh.url}/healthz`)).status).toBe(200);
        expect((await fetch(`${aimesh.url}/api/v1/events?limit=1`, { headers: admin })).status).toBe(200);
      });
    },
  );
