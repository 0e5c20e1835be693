import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { adminHeaders, startTestAimesh } from '../support/aimesh.js';
import { call } from './registry-call.js';

// Starting PGlite and migrating every module takes tens of seconds on a loaded machine.
const START_TIMEOUT_MS = 120_000;

const iris = readFileSync(new URL('../../src/registry/samples/iris.csv', import.meta.url));

describe('registry HTTP API: datasets', () => {
  let aimesh: RunningAimesh;
  let api: (method: string, path: string, body?: unknown) => ReturnType<typeof call>;

  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['registry'],
      config: { registry: { datasets: { maxBytes: 256 * 1024 } } },
    });
    api = (method, path, body) => call(aimesh.url, method, path, body);
  }, START_TIMEOUT_MS);
  afterAll(() => aimesh?.stop());

  it('documents every registry route in the OpenAPI description', async () => {
    const docs = await api('GET', '/docs/json');
    expect(docs.status).toBe(200);
    const paths = Object.keys(docs.body.paths);
    for (const path of [
      '/api/v1/datasets/{name}/versions',
      '/api/v1/experiments/{id}/runs',
      '/api/v1/runs/search',
      '/api/v1/runs/{runId}/log-batch',
      '/api/v1/models/{name}/aliases/{alias}',
      '/api/v1/model-versions/latest',
      '/api/v1/lineage/runs/{runId}',
    ]) {
      expect(paths).toContain(path);
    }
  });

  describe('datasets', () => {
    it('stores a CSV content-addressed with its schema, row count and stats; the same bytes again are the same version', async () => {
      const first = await api('POST', '/api/v1/datasets/iris/versions', iris);
      expect(first.status).toBe(201);
      expect(first.body.created).toBe(true);
      const v = first.body.version;
      expect(v.version).toBe(createHash('sha256').update(iris).digest('hex'));
      expect(v.uri).toBe(`artifact://datasets/${v.version}.csv`);
      expect(v.rowCount).toBe(150);
      expect(v.columns.map((c: { name: string; type: string }) => `${c.name}:${c.type}`)).toEqual([
        'sepalLength:number',
        'sepalWidth:number',
        'petalLength:number',
        'petalWidth:number',
        'species:string',
      ]);
      const species = v.columns[4];
      expect(species.distinct).toBe(3);
      expect(v.columns[0].min).toBe(4.3);
      expect(v.columns[0].max).toBe(7.9);
      const again = await api('POST', '/api/v1/datasets/iris/versions', iris);
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ created: false, version: { version: v.version } });
      const content = await request(`${aimesh.url}/api/v1/datasets/iris/versions/latest/content`, {
        headers: adminHeaders(),
      });
      expect(Buffer.from(await content.body.arrayBuffer()).equals(iris)).toBe(true);
      const listed = await api('GET', '/api/v1/datasets?limit=10');
      expect(listed.body.items).toEqual([
        expect.objectContaining({ name: 'iris', versions: 1, latestVersion: v.version }),
      ]);
    });

    it('validates a version against expected columns and says what does not match', async () => {
      const ok = await api('POST', '/api/v1/datasets/iris/versions/latest/validate', {
        columns: [
          { name: 'sepalLength', type: 'number', nullable: false },
          { name: 'species', type: 'string' },
        ],
      });
      expect(ok.body).toEqual({ valid: true, problems: [] });
      const bad = await api('POST', '/api/v1/datasets/iris/versions/latest/validate', {
        columns: [
          { name: 'species', type: 'number' },
          { name: 'colour', type: 'string' },
        ],
      });
      expect(bad.body.valid).toBe(false);
      expect(bad.body.problems).toEqual([
        'column "species" is string, expected number',
        'column "colour" is missing',
      ]);
    });

    it('pushes a built-in sample by name', async () => {
      const pushed = await api('POST', '/api/v1/datasets/samples/penguins');
      expect(pushed.status).toBe(201);
      expect(pushed.body.version).toMatchObject({ dataset: 'penguins', rowCount: 344 });
      const missing = await api('POST', '/api/v1/datasets/samples/mnist');
      expect(missing).toMatchObject({ status: 404, body: { error: { code: 'sample_not_found' } } });
    });

    it.each([
      ['an empty file', '', 400, 'empty_dataset'],
      ['a header without rows', 'a,b\n', 400, 'empty_dataset'],
      [
        'bytes that are not UTF-8',
        Buffer.from([0x61, 0x2c, 0x62, 0x0a, 0xff, 0xfe, 0x2c, 0x31, 0x0a]),
        400,
        'invalid_encoding',
      ],
      [
        '10,000 columns',
        `${Array.from({ length: 10_000 }, (_, i) => `c${i}`).join(',')}\n${'1,'.repeat(9_999)}1\n`,
        400,
        'too_many_columns',
      ],
      ['ragged rows', 'a,b\n1,2\n3\n', 400, 'ragged_rows'],
      ['an unclosed quote', 'a,b\n"1,2\n', 400, 'invalid_csv'],
      ['a file over the size limit', `a\n${'1\n'.repeat(160_000)}`, 413, 'payload_too_large'],
    ])('refuses %s with a clear 4xx', async (_what, body, status, code) => {
      const response = await api('POST', '/api/v1/datasets/bad/versions', body);
      expect(response.status).toBe(status);
      expect(response.body.error.code).toBe(code);
      expect(response.body.error.message.length).toBeGreaterThan(10);
    });

    it('answers 404 for unknown datasets and versions', async () => {
      expect((await api('GET', '/api/v1/datasets/nope')).body.error.code).toBe('dataset_not_found');
      expect((await api('GET', `/api/v1/datasets/iris/versions/${'0'.repeat(64)}`)).status).toBe(404);
    });
  });
});
