import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { eventLogModule, eventsModule } from '../../src/events/index.js';
import type { ModuleDefinition } from '../../src/kernel/module.js';
import { type RegistryApi, registryModule } from '../../src/registry/index.js';
import { startTestAimesh } from '../support/aimesh.js';

// Starting PGlite and migrating every module takes tens of seconds on a loaded machine.
const START_TIMEOUT_MS = 120_000;

describe('the registry module API as other modules use it', () => {
  let aimesh: RunningAimesh;
  let registry: RegistryApi;

  beforeAll(async () => {
    // A module that depends on the registry, as inference and the pipeline do.
    const consumer: ModuleDefinition = {
      name: 'consumer',
      deps: ['registry'],
      init: async (ctx) => {
        registry = ctx.use('registry');
        return { ready: () => ({ status: 'ready' }), stop: async () => {} };
      },
    };
    aimesh = await startTestAimesh({ table: [eventLogModule, eventsModule, registryModule, consumer] });
  }, START_TIMEOUT_MS);
  afterAll(() => aimesh?.stop());

  it('resolves a version by number, alias and latest, and answers 404 for unknown ones', async () => {
    await registry.createModel({ name: 'sentiment', type: 'sentiment', createdBy: 'pipeline' });
    const first = await registry.createModelVersion({
      model: 'sentiment',
      format: 'onnx',
      artifactUri: 'artifact://models/sentiment/1/model.onnx',
      artifacts: [{ format: 'tfjs', uri: 'artifact://models/sentiment/1/tfjs/' }],
      metrics: { accuracy: 0.97 },
      createdBy: 'pipeline',
    });
    await registry.createModelVersion({
      model: 'sentiment',
      format: 'onnx',
      artifactUri: 'artifact://x',
      createdBy: 'pipeline',
    });
    await registry.promote({
      model: 'sentiment',
      version: first.version,
      alias: 'production',
      actor: 'pipeline',
    });
    const production = await registry.getModelVersion('sentiment', 'production');
    expect(production).toMatchObject({
      model: 'sentiment',
      version: 1,
      type: 'sentiment',
      format: 'onnx',
      artifactUri: 'artifact://models/sentiment/1/model.onnx',
      artifacts: [{ format: 'tfjs', uri: 'artifact://models/sentiment/1/tfjs/' }],
      metrics: { accuracy: 0.97 },
      aliases: ['production'],
      status: 'ready',
    });
    expect((await registry.getModelVersion('sentiment', 'latest')).version).toBe(2);
    expect((await registry.getModelVersion('sentiment', 2)).version).toBe(2);
    await expect(registry.getModelVersion('sentiment', 'staging')).rejects.toMatchObject({ status: 404 });
    await expect(registry.getModelVersion('nope', 1)).rejects.toMatchObject({ status: 404 });
  });

  it('pushes and validates a dataset for the data-preparation stage', async () => {
    const pushed = await registry.pushDataset({
      name: 'tiny',
      data: new TextEncoder().encode('x,label\n1,a\n2,b\n'),
      actor: 'pipeline',
    });
    expect(pushed.version).toMatchObject({
      rowCount: 2,
      uri: `artifact://datasets/${pushed.version.version}.csv`,
    });
    const check = await registry.validateDataset('tiny', pushed.version.version, [
      { name: 'x', type: 'number', nullable: false },
      { name: 'label', type: 'string' },
    ]);
    expect(check).toEqual({ valid: true, problems: [] });
  });

  it('commits a promotion and its event together: an event that cannot be stored undoes the promotion', async () => {
    await registry.createModel({ name: 'outbox', type: 'sentiment', createdBy: 'pipeline' });
    const versions = [];
    for (const accuracy of [0.99, 0.995]) {
      versions.push(
        await registry.createModelVersion({
          model: 'outbox',
          format: 'onnx',
          artifactUri: `artifact://outbox/${accuracy}`,
          metrics: { accuracy },
          createdBy: 'pipeline',
        }),
      );
    }
    const [v1, v2] = versions;
    await registry.promote({ model: 'outbox', version: v1.version, alias: 'production', actor: 'pipeline' });
    // A causation id past the envelope's 512-character limit: the event is refused at append.
    await expect(
      registry.promote({
        model: 'outbox',
        version: v2.version,
        alias: 'production',
        actor: 'pipeline',
        causationId: 'x'.repeat(600),
      }),
    ).rejects.toMatchObject({ code: 'invalid_event' });
    expect((await registry.getModelVersion('outbox', 'production')).version).toBe(v1.version);
    const promoted = await aimesh.events.query({ type: 'ai.model.promoted', limit: 1000 });
    expect(promoted.filter((e) => (e.data as { model: string }).model === 'outbox')).toHaveLength(1);
    // The version events were stored with their versions, one each.
    const created = await aimesh.events.query({ type: 'ai.model.version.created', limit: 1000 });
    expect(created.filter((e) => (e.data as { model: string }).model === 'outbox')).toHaveLength(2);
  });
});
