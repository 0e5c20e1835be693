import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { startTestAimesh } from '../support/aimesh.js';
import { call } from './registry-call.js';

// Starting PGlite and migrating every module takes tens of seconds on a loaded machine.
const START_TIMEOUT_MS = 120_000;

describe('registry HTTP API: experiments, models, promotion, lineage', () => {
  let aimesh: RunningAimesh;
  let api: (method: string, path: string, body?: unknown) => ReturnType<typeof call>;

  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['registry'],
    });
    api = (method, path, body) => call(aimesh.url, method, path, body);
  }, START_TIMEOUT_MS);
  afterAll(() => aimesh?.stop());

  describe('experiments and runs', () => {
    let runId: string;

    it('creates an experiment and refuses a duplicate name with 409', async () => {
      const created = await api('POST', '/api/v1/experiments', {
        name: 'iris-grid',
        description: 'grid search',
        tags: { team: 'ml' },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ name: 'iris-grid', status: 'active', createdBy: 'ana' });
      const duplicate = await api('POST', '/api/v1/experiments', { name: 'iris-grid' });
      expect(duplicate).toMatchObject({ status: 409, body: { error: { code: 'experiment_exists' } } });
    });

    it('logs runs in batches and searches them with a filter, order and page', async () => {
      for (const [lr, accuracy] of [
        [0.01, 0.93],
        [0.1, 0.97],
        [0.01, 0.88],
        [0.01, 0.96],
      ]) {
        const run = await api('POST', '/api/v1/experiments/iris-grid/runs', { params: { learningRate: lr } });
        expect(run.status).toBe(201);
        runId = run.body.id;
        const logged = await api('POST', `/api/v1/runs/${runId}/log-batch`, {
          metrics: [
            { key: 'accuracy', value: accuracy - 0.1, step: 0 },
            { key: 'accuracy', value: accuracy, step: 1 },
          ],
          tags: { stage: 'train' },
        });
        expect(logged.status).toBe(204);
      }
      const found = await api(
        'GET',
        `/api/v1/experiments/iris-grid/runs?filter=${encodeURIComponent('metrics.accuracy > 0.9 and params.learningRate = 0.01')}&orderBy=${encodeURIComponent('metrics.accuracy DESC')}&limit=1`,
      );
      expect(found.status).toBe(200);
      expect(found.body.items.map((r: { metrics: { accuracy: number } }) => r.metrics.accuracy)).toEqual([
        0.96,
      ]);
      expect(found.body.nextOffset).toBe(1);
      const next = await api('POST', '/api/v1/runs/search', {
        experimentIds: ['iris-grid'],
        filter: 'metrics.accuracy > 0.9 and params.learningRate = 0.01',
        orderBy: ['metrics.accuracy DESC'],
        limit: 1,
        offset: 1,
      });
      expect(next.body.items.map((r: { metrics: { accuracy: number } }) => r.metrics.accuracy)).toEqual([
        0.93,
      ]);
      const history = await api('GET', `/api/v1/runs/${runId}/metrics/accuracy`);
      expect(history.body.items.map((p: { step: number }) => p.step)).toEqual([0, 1]);
    });

    it('refuses a malformed filter with 400 naming the position', async () => {
      const bad = await api(
        'GET',
        `/api/v1/experiments/iris-grid/runs?filter=${encodeURIComponent('metrics.accuracy >> 0.9')}`,
      );
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('invalid_filter');
      expect(bad.body.error.message).toMatch(/position 19/);
    });

    it('keeps params written once and ends runs with an event', async () => {
      const rewrite = await api('POST', `/api/v1/runs/${runId}/log-batch`, { params: { learningRate: 0.5 } });
      expect(rewrite).toMatchObject({ status: 409, body: { error: { code: 'param_already_logged' } } });
      const ended = await api('PATCH', `/api/v1/runs/${runId}`, { status: 'FINISHED' });
      expect(ended.body).toMatchObject({ status: 'FINISHED', endTime: expect.any(String) });
      const events = await aimesh.events.query({ type: 'ai.experiment.run.ended' });
      expect(events.map((e) => (e.data as { runId: string }).runId)).toEqual([runId]);
    });

    it('archives an experiment and keeps its tags merged', async () => {
      const archived = await api('PATCH', '/api/v1/experiments/iris-grid', {
        status: 'archived',
        tags: { owner: 'ana' },
      });
      expect(archived.body).toMatchObject({ status: 'archived', tags: { team: 'ml', owner: 'ana' } });
      expect((await api('PATCH', '/api/v1/experiments/iris-grid', { status: 'gone' })).status).toBe(400);
      const refused = await api('POST', '/api/v1/experiments/iris-grid/runs', {});
      expect(refused).toMatchObject({ status: 409, body: { error: { code: 'experiment_archived' } } });
    });

    it('answers 404 for unknown experiments and runs', async () => {
      expect((await api('POST', '/api/v1/experiments/nope/runs', {})).body.error.code).toBe(
        'experiment_not_found',
      );
      expect((await api('GET', '/api/v1/runs/nope')).body.error.code).toBe('run_not_found');
      expect((await api('POST', '/api/v1/runs/nope/log-batch', { metrics: [] })).status).toBe(404);
    });
  });

  describe('models, promotion and lineage', () => {
    const version = async (accuracy: number, extra: Record<string, unknown> = {}) => {
      const created = await api('POST', '/api/v1/models/iris-classifier/versions', {
        format: 'tfjs',
        artifactUri: 'artifact://models/iris-classifier/x/',
        metrics: { accuracy },
        params: { epochs: 50 },
        ...extra,
      });
      expect(created.status).toBe(201);
      return created.body.version as number;
    };

    it('registers a model once and numbers its versions, each with an event naming the actor', async () => {
      expect(
        (await api('POST', '/api/v1/models', { name: 'iris-classifier', type: 'classification' })).status,
      ).toBe(201);
      const duplicate = await api('POST', '/api/v1/models', {
        name: 'iris-classifier',
        type: 'classification',
      });
      expect(duplicate).toMatchObject({ status: 409, body: { error: { code: 'model_exists' } } });
      expect(await version(0.9)).toBe(1);
      const events = await aimesh.events.query({ type: 'ai.model.version.created' });
      expect(events.at(-1)?.data).toMatchObject({ model: 'iris-classifier', version: 1, actor: 'ana' });
    });

    it('refuses to promote accuracy 0.95 and says which rule failed', async () => {
      const v = await version(0.95);
      const refused = await api('PUT', `/api/v1/models/iris-classifier/aliases/production`, { version: v });
      expect(refused.status).toBe(422);
      expect(refused.body.error.code).toBe('promotion_refused');
      expect(refused.body.error.message).toContain('rule "accuracy > 0.95" failed');
      expect(refused.body.error.message).toContain('accuracy 0.95');
      const metrics = await request(`${aimesh.url}/metrics`);
      expect(await metrics.body.text()).toContain('aimesh_registry_promotions_total{outcome="refused"} 1');
    });

    it('promotes accuracy 0.951, storing the event with causation to the evaluation', async () => {
      const v = await version(0.951);
      const [evaluation] = await aimesh.events.append({
        type: 'ai.evaluation.completed',
        source: '/test/pipeline',
        data: { model: 'iris-classifier', version: v, accuracy: 0.951 },
      });
      const promoted = await api('PUT', `/api/v1/models/iris-classifier/aliases/production`, {
        version: v,
        causationId: evaluation.id,
      });
      expect(promoted.status).toBe(200);
      expect(promoted.body).toMatchObject({
        version: v,
        alias: 'production',
        previousVersion: null,
        changed: true,
      });
      const caused = await aimesh.events.query({ causationId: evaluation.id });
      expect(caused).toHaveLength(1);
      expect(caused[0]).toMatchObject({
        type: 'ai.model.promoted',
        id: promoted.body.eventId,
        data: { model: 'iris-classifier', version: v, alias: 'production', actor: 'ana' },
      });
      const served = await api('GET', '/api/v1/models/iris-classifier/versions/production');
      expect(served.body).toMatchObject({ version: v, aliases: ['production'], type: 'classification' });
    });

    it('compares two versions metric by metric and param by param', async () => {
      const diff = await api('GET', '/api/v1/models/iris-classifier/compare?a=1&b=production');
      expect(diff.body.metrics).toEqual([
        { key: 'accuracy', a: 0.9, b: 0.951, delta: expect.closeTo(0.051, 9) },
      ]);
      expect(diff.body.params).toEqual([{ key: 'epochs', a: 50, b: 50, changed: false }]);
    });

    it('finds the latest version of a type and the versions of an experiment', async () => {
      const v = await version(0.97, {
        experimentId: 'exp-42',
        runId: 'train-7',
        dataset: 'iris',
        datasetVersion: 'abc',
      });
      expect((await api('GET', '/api/v1/model-versions/latest?type=classification')).body.version).toBe(v);
      const byExperiment = await api('GET', '/api/v1/model-versions?experimentId=exp-42');
      expect(byExperiment.body.items.map((x: { version: number }) => x.version)).toEqual([v]);
      expect((await api('GET', '/api/v1/model-versions/latest?type=sentiment')).status).toBe(404);
    });

    it('walks lineage dataset → run → model both ways to the same edges, and emits the run as a RunEvent', async () => {
      const event = {
        eventType: 'COMPLETE',
        eventTime: '2026-01-01T00:00:00Z',
        run: { runId: 'train-9' },
        job: { namespace: 'aimesh', name: 'iris-pipeline.train' },
        inputs: [{ namespace: 'aimesh', name: 'datasets/iris@abc' }],
        outputs: [{ namespace: 'aimesh', name: 'models/iris-classifier@1' }],
      };
      expect((await api('POST', '/api/v1/lineage', event)).status).toBe(201);
      const up = await api('GET', '/api/v1/lineage?node=iris-classifier@1&direction=upstream&depth=2');
      const down = await api(
        'GET',
        `/api/v1/lineage?node=${encodeURIComponent('dataset:iris@abc')}&direction=downstream&depth=2`,
      );
      const edges = (list: { source: string; target: string }[]) =>
        list.map((e) => `${e.source} -> ${e.target}`);
      expect(edges(down.body.downstream)).toContain('run:train-9 -> model:iris-classifier@1');
      expect(edges(up.body.upstream)).toEqual([
        'dataset:iris@abc -> run:train-9',
        'run:train-9 -> model:iris-classifier@1',
      ]);
      // Downstream also reaches the version registered from run train-7 on the same data.
      expect(edges(down.body.downstream).filter((e) => e.includes('train-9'))).toEqual(
        edges(up.body.upstream),
      );
      const emitted = await api('GET', '/api/v1/lineage/runs/train-9');
      expect(emitted.body).toMatchObject({ ...event, eventTime: '2026-01-01T00:00:00.000Z' });
      const listed = await api('GET', '/api/v1/lineage/runs?limit=10');
      expect(listed.body.items).toEqual([emitted.body]);
    });

    it('links a tracked run to the data it read and the model registered from it', async () => {
      await api('POST', '/api/v1/experiments', { name: 'lineage-exp' });
      const run = await api('POST', '/api/v1/experiments/lineage-exp/runs', {
        datasetVersions: [{ dataset: 'iris', version: 'def' }],
      });
      const v = await version(0.99, { runId: run.body.id });
      const up = await api('GET', `/api/v1/lineage?node=iris-classifier@${v}&depth=3`);
      expect(
        up.body.upstream.map((e: { source: string; target: string }) => `${e.source} -> ${e.target}`),
      ).toEqual([
        `dataset:iris@def -> run:${run.body.id}`,
        `run:${run.body.id} -> model:iris-classifier@${v}`,
      ]);
    });

    it('refuses bad lineage input and unknown names with clear 4xx', async () => {
      expect((await api('POST', '/api/v1/lineage', { eventType: 'DONE' })).status).toBe(400);
      expect((await api('GET', '/api/v1/lineage?node=nonsense')).body.error.code).toBe('invalid_node');
      expect((await api('GET', '/api/v1/lineage?node=a@1&depth=99')).status).toBe(400);
      expect((await api('GET', '/api/v1/lineage/runs/nope')).status).toBe(404);
      expect((await api('PUT', '/api/v1/models/nope/aliases/production', { version: 1 })).status).toBe(404);
      expect(
        (await api('PUT', '/api/v1/models/iris-classifier/aliases/production', { version: 99 })).status,
      ).toBe(404);
      expect((await api('POST', '/api/v1/models', { name: 'bad name!', type: 'x' })).body.error.code).toBe(
        'invalid_name',
      );
    });
  });
});

describe('registry promotion with an improvement rule', () => {
  let aimesh: RunningAimesh;

  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['registry'],
      config: {
        registry: {
          promotion: {
            rules: [
              { metric: 'accuracy', greaterThan: 0.8 },
              { metric: 'accuracy', improvesBy: 0.02, aliases: ['production'] },
            ],
          },
        },
      },
    });
  }, START_TIMEOUT_MS);
  afterAll(() => aimesh?.stop());

  it('promotes only a version that beats the alias holder by more than the margin', async () => {
    const api = (method: string, path: string, body?: unknown) => call(aimesh.url, method, path, body);
    await api('POST', '/api/v1/models', { name: 'm', type: 'classification' });
    for (const accuracy of [0.85, 0.86, 0.9]) {
      await api('POST', '/api/v1/models/m/versions', {
        format: 'onnx',
        artifactUri: 'artifact://m.onnx',
        metrics: { accuracy },
      });
    }
    expect((await api('PUT', '/api/v1/models/m/aliases/production', { version: 1 })).status).toBe(200);
    const refused = await api('PUT', '/api/v1/models/m/aliases/production', { version: 2 });
    expect(refused.status).toBe(422);
    expect(refused.body.error.message).toContain('improves on the alias holder by > 0.02');
    expect((await api('PUT', '/api/v1/models/m/aliases/staging', { version: 2 })).status).toBe(200);
    const promoted = await api('PUT', '/api/v1/models/m/aliases/production', { version: 3 });
    expect(promoted.body).toMatchObject({ version: 3, previousVersion: 1 });
  });
});
