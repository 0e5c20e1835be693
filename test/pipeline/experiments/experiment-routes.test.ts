import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../../src/app/runtime.js';
import type { PipelineApi } from '../../../src/pipeline/index.js';
import { adminHeaders, startTestAimesh } from '../../support/aimesh.js';
import { basePipeline, drain } from './scripted-worker.js';

describe('the experiments API', () => {
  let aimesh: RunningAimesh;
  let api: PipelineApi;

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${api.url}/api/v1/training${path}`, {
      method,
      headers: { ...adminHeaders(), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    // biome-ignore lint/suspicious/noExplicitAny: the assertions read the JSON replies by path
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };

  beforeAll(async () => {
    aimesh = await startTestAimesh({
      targets: ['pipeline'],
      config: { pipeline: { monitorIntervalMs: 600_000, experiments: { tickMs: 600_000 } } },
    });
    api = aimesh.manager.api('pipeline') as PipelineApi;
    await aimesh.manager.api('registry')!.pushDataset({
      name: 'tiny',
      data: new TextEncoder().encode('x,y\n1,a\n2,b\n'),
      actor: 'test',
    });
  }, 60_000);
  afterAll(async () => {
    await aimesh?.stop();
  });

  it.each([
    [{ name: 'x', definition: basePipeline(), space: { a: { gauss: [1] } } }, 'invalid_search_space'],
    [{ name: 'x', definition: basePipeline(), space: { a: [1] }, strategy: 'bayes' }, 'invalid_experiment'],
    [{ name: 'x', definition: basePipeline(), space: { a: [1] }, strategy: 'random' }, 'invalid_experiment'],
    [{ name: 'x', space: { a: [1] } }, 'invalid_experiment'],
    [{ name: 'x', definition: basePipeline(), space: { lr: { uniform: [0, 1] } } }, 'invalid_search_space'],
    [{ name: 'x', definition: basePipeline(), space: { lr: [1] }, strategy: 'asha' }, 'invalid_experiment'],
    [{ name: 'x', definition: { name: 'broken' }, space: { a: [1] } }, 'invalid_pipeline'],
    [
      {
        name: 'x',
        definition: basePipeline(),
        space: { lr: [1], epochs: [1, 3] },
        strategy: 'asha',
        asha: { direction: 'sideways' },
      },
      'invalid_experiment',
    ],
    [
      {
        name: 'x',
        definition: basePipeline(),
        space: { lr: [1], epochs: [1, 3] },
        strategy: 'asha',
        asha: { metric: 'val loss!' },
      },
      'invalid_experiment',
    ],
    ['not an object', 'invalid_experiment'],
  ])('refuses %j with 400 %s', async (body, code) => {
    const reply = await call('POST', '/experiments', body);
    expect(reply.status).toBe(400);
    expect(reply.body.error.code).toBe(code);
    expect(reply.body.error.message.length).toBeGreaterThan(10);
  });

  it('answers 404 for an unknown experiment and 400 for a bad sort', async () => {
    expect((await call('GET', '/experiments/nope')).status).toBe(404);
    expect((await call('GET', '/experiments/nope/trials')).body.error.code).toBe('experiment_not_found');
    expect((await call('POST', '/experiments/nope/cancel')).status).toBe(404);
    const created = await call('POST', '/experiments', {
      name: 'sorting',
      definition: basePipeline(),
      space: { learningRate: [0.1] },
    });
    expect((await call('GET', `/experiments/${created.body.id}/trials?sort=bogus`)).status).toBe(400);
    expect((await call('GET', `/experiments/${created.body.id}/trials?limit=0`)).status).toBe(400);
    await call('POST', `/experiments/${created.body.id}/cancel`);
  });

  it('creates, pages, cancels, resumes and analyses an experiment over HTTP', async () => {
    const created = await call('POST', '/experiments', {
      name: 'http-random',
      definition: basePipeline(),
      space: { learningRate: { logUniform: [0.001, 0.1] }, batchSize: [32, 64] },
      strategy: 'random',
      budget: 12,
      seed: 3,
      parallel: 4,
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect(created.body).toMatchObject({ status: 'RUNNING', strategy: 'random', totalTrials: 12 });

    await api.tickExperiments();
    await drain(api);
    await api.tickExperiments();
    const cancelled = await call('POST', `/experiments/${id}/cancel`);
    expect(cancelled.body).toMatchObject({ status: 'CANCELLED' });
    expect(cancelled.body.trials.SUCCEEDED).toBe(4);
    expect((await call('POST', `/experiments/${id}/cancel`)).status).toBe(409);

    const resumed = await call('POST', `/experiments/${id}/resume`);
    expect(resumed.body).toMatchObject({ status: 'RUNNING' });
    for (let i = 0; i < 20 && (await api.experiments.get(id)).status === 'RUNNING'; i++) {
      await api.tickExperiments();
      await drain(api);
    }
    const done = await call('GET', `/experiments/${id}`);
    expect(done.body).toMatchObject({ status: 'SUCCEEDED' });
    expect(done.body.trials.SUCCEEDED).toBe(12);

    const page = await call('GET', `/experiments/${id}/trials?sort=metric&order=desc&limit=5&offset=5`);
    expect(page.body.total).toBe(12);
    expect(page.body.items).toHaveLength(5);
    expect(page.body.nextOffset).toBe(10);
    const first = await call('GET', `/experiments/${id}/trials?sort=metric&order=desc&limit=5`);
    expect(first.body.items[0].metric).toBeGreaterThanOrEqual(page.body.items[0].metric);
    expect(first.body.items[0].id).toBe(done.body.best.id);

    const analysis = await call('GET', `/experiments/${id}/analysis?top=3`);
    expect(analysis.body.ranked).toHaveLength(3);
    expect(analysis.body.effects.filter((e: { param: string }) => e.param === 'batchSize')).toHaveLength(2);

    const list = await call('GET', '/experiments?status=SUCCEEDED');
    expect(list.body.items.map((e: { id: string }) => e.id)).toContain(id);
  });
});
