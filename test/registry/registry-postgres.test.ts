import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { startTestAimesh } from '../support/aimesh.js';
import { createTestDatabase, serviceAvailable } from '../support/services.js';
import { call } from './registry-call.js';

// Starting PGlite and migrating every module takes tens of seconds on a loaded machine.
const START_TIMEOUT_MS = 120_000;

const postgres = await serviceAvailable('postgres');

describe.skipIf(!postgres)('registry on the PostgreSQL server, through HTTP', () => {
  let aimesh: RunningAimesh;
  let drop: () => Promise<void>;
  const api = (method: string, path: string, body?: unknown) => call(aimesh.url, method, path, body);

  beforeAll(async () => {
    const database = await createTestDatabase();
    drop = database.drop;
    aimesh = await startTestAimesh({
      targets: ['registry'],
      config: { database: { adapter: 'postgres', url: database.url, poolSize: 8 } },
    });
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await aimesh?.stop();
    await drop?.();
  });

  it('numbers 50 parallel version creations 1..50 and appends one event for each', async () => {
    await api('POST', '/api/v1/models', { name: 'digits', type: 'classification' });
    const created = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        api('POST', '/api/v1/models/digits/versions', {
          format: 'onnx',
          artifactUri: `artifact://models/digits/${i}.onnx`,
          metrics: { accuracy: 0.9 + i / 1000 },
        }),
      ),
    );
    expect(created.every((r) => r.status === 201)).toBe(true);
    const numbers = created.map((r) => r.body.version as number).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const events = await aimesh.events.query({ type: 'ai.model.version.created', limit: 1000 });
    expect(events.map((e) => (e.data as { version: number }).version).sort((a, b) => a - b)).toEqual(numbers);
  });

  it('refuses accuracy 0.95, accepts 0.951 with causation to the evaluation event', async () => {
    const at = async (accuracy: number) =>
      (
        await api('POST', '/api/v1/models/digits/versions', {
          format: 'onnx',
          artifactUri: 'artifact://models/digits/x.onnx',
          metrics: { accuracy },
        })
      ).body.version as number;
    const low = await at(0.95);
    const high = await at(0.951);
    expect((await api('PUT', '/api/v1/models/digits/aliases/production', { version: low })).status).toBe(422);
    const [evaluation] = await aimesh.events.append({
      type: 'ai.evaluation.completed',
      source: '/test/pipeline',
      data: { model: 'digits', version: high, accuracy: 0.951 },
    });
    const promoted = await api('PUT', '/api/v1/models/digits/aliases/production', {
      version: high,
      causationId: evaluation.id,
    });
    expect(promoted.status).toBe(200);
    const [event] = await aimesh.events.query({ causationId: evaluation.id });
    expect(event).toMatchObject({
      type: 'ai.model.promoted',
      data: { model: 'digits', version: high, alias: 'production' },
    });
  });
});
