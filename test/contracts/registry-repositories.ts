import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/app/migrations.js';
import type { Database } from '../../src/ports/database.js';
import { DatasetRepository } from '../../src/registry/dataset-repository.js';
import { ExperimentRepository } from '../../src/registry/experiment-repository.js';
import { LineageRepository } from '../../src/registry/lineage-repository.js';
import { ModelRepository } from '../../src/registry/model-repository.js';

// Starting PGlite and migrating every module takes tens of seconds on a loaded machine.
const START_TIMEOUT_MS = 120_000;

const registryMigrations = new URL('../../src/registry/migrations', import.meta.url).pathname;
const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const page = { limit: 50, offset: 0 };

/** The registry repositories' contract; every database adapter runs it on a fresh, empty database. */
export function registryRepositoryContract(
  name: string,
  open: () => Promise<{ db: Database; cleanup(): Promise<void> }>,
  enabled = true,
) {
  describe.skipIf(!enabled)(`Registry repositories: ${name}`, () => {
    let db: Database;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      ({ db, cleanup } = await open());
      await migrate(db, [{ module: 'registry', dir: registryMigrations }]);
    }, START_TIMEOUT_MS);
    afterAll(async () => {
      await db?.close();
      await cleanup?.();
    });

    it('stores a dataset version once per content and finds it by sha256, prefix and latest', async () => {
      const datasets = new DatasetRepository(db);
      const version = {
        dataset: 'iris',
        version: 'a'.repeat(64),
        uri: 'artifact://datasets/a.csv',
        sizeBytes: 10,
        rowCount: 2,
        columns: [
          { name: 'x', type: 'integer' as const, nullable: false, count: 2, missing: 0, distinct: 2 },
        ],
        createdBy: 'ana',
        createdAt: at(1),
      };
      expect((await datasets.addVersion(version)).created).toBe(true);
      const again = await datasets.addVersion({ ...version, createdAt: at(2) });
      expect(again.created).toBe(false);
      expect(again.version.createdAt).toBe(at(1).toISOString());
      await datasets.addVersion({ ...version, version: 'b'.repeat(64), createdAt: at(3) });
      expect((await datasets.getVersion('iris', 'aaaaaaaa')).version).toBe('a'.repeat(64));
      expect((await datasets.getVersion('iris', 'latest')).version).toBe('b'.repeat(64));
      expect((await datasets.get('iris')).versions).toBe(2);
      expect((await datasets.listVersions('iris', page)).map((v) => v.version[0])).toEqual(['b', 'a']);
      await expect(datasets.getVersion('iris', 'c'.repeat(64))).rejects.toMatchObject({ status: 404 });
      await expect(datasets.getVersion('iris', 'zzzzzzzz')).rejects.toMatchObject({ status: 404 });
      await expect(datasets.listVersions('nope', page)).rejects.toMatchObject({ code: 'dataset_not_found' });
    });

    it('creates experiments with unique names and runs whose params are written once', async () => {
      const experiments = new ExperimentRepository(db);
      const e = await experiments.createExperiment({
        id: 'e1',
        name: 'iris-search',
        description: '',
        tags: { team: 'ml' },
        createdBy: 'ana',
        createdAt: at(1),
      });
      expect(e.status).toBe('active');
      await expect(
        experiments.createExperiment({
          id: 'e2',
          name: 'iris-search',
          description: '',
          tags: {},
          createdBy: 'ana',
          createdAt: at(1),
        }),
      ).rejects.toMatchObject({ status: 409, code: 'experiment_exists' });
      const run = await experiments.createRun({
        id: 'r1',
        experimentId: 'iris-search',
        createdBy: 'ana',
        startTime: at(2),
        params: { lr: 0.01 },
      });
      expect(run.params).toEqual({ lr: '0.01' });
      await experiments.logBatch('r1', { params: { lr: 0.01 } }, at(3));
      await expect(experiments.logBatch('r1', { params: { lr: 0.1 } }, at(3))).rejects.toMatchObject({
        status: 409,
      });
      await expect(
        experiments.createRun({ id: 'r0', experimentId: 'nope', createdBy: 'a', startTime: at(1) }),
      ).rejects.toMatchObject({ status: 404 });
    });

    it('appends metric history and keeps the latest step for search', async () => {
      const experiments = new ExperimentRepository(db);
      await experiments.logBatch(
        'r1',
        {
          metrics: [
            { key: 'loss', value: 0.9, step: 0 },
            { key: 'loss', value: 0.5, step: 2 },
            { key: 'loss', value: 0.7, step: 1 },
          ],
        },
        at(4),
      );
      const history = await experiments.metricHistory('r1', 'loss', page);
      expect(history.map((h) => h.value)).toEqual([0.9, 0.7, 0.5]);
      expect((await experiments.getRun('r1')).metrics.loss).toBe(0.5);
    });

    it('searches runs with a metric and param filter, ordered and paged', async () => {
      const experiments = new ExperimentRepository(db);
      await experiments.createExperiment({
        id: 'e3',
        name: 'grid',
        description: '',
        tags: {},
        createdBy: 'a',
        createdAt: at(1),
      });
      for (let i = 0; i < 6; i++) {
        await experiments.createRun({
          id: `g${i}`,
          experimentId: 'e3',
          createdBy: 'a',
          startTime: at(10 + i),
          params: { learningRate: i % 2 ? 0.01 : 0.1 },
          tags: { i: String(i) },
        });
        await experiments.logBatch(
          `g${i}`,
          { metrics: [{ key: 'accuracy', value: 0.85 + i * 0.02 }] },
          at(20),
        );
      }
      const found = await experiments.searchRuns({
        experimentIds: ['e3'],
        filter: 'metrics.accuracy > 0.9 and params.learningRate = 0.01',
        orderBy: ['metrics.accuracy ASC'],
        page,
      });
      expect(found.map((r) => r.id)).toEqual(['g3', 'g5']);
      const either = await experiments.searchRuns({
        experimentIds: ['e3'],
        filter: "(tags.i = '0' or tags.i = '1') and attributes.status = 'RUNNING'",
        page,
      });
      expect(either.map((r) => r.id)).toEqual(['g1', 'g0']);
      const paged = await experiments.searchRuns({ experimentIds: ['e3'], page: { limit: 4, offset: 4 } });
      expect(paged.map((r) => r.id)).toEqual(['g1', 'g0']);
      await expect(
        experiments.searchRuns({ experimentIds: ['e3'], filter: 'metrics.accuracy >', page }),
      ).rejects.toMatchObject({
        status: 400,
        code: 'invalid_filter',
      });
    });

    it('pages newest-first searches identically whether the page lies among the newest runs or not', async () => {
      const experiments = new ExperimentRepository(db);
      await experiments.createExperiment({
        id: 'e4',
        name: 'window',
        description: '',
        tags: {},
        createdBy: 'a',
        createdAt: at(1),
      });
      // 120 runs; only the 3 oldest and the newest have high accuracy.
      for (let i = 0; i < 120; i++) {
        const high = i < 3 || i === 119;
        await experiments.createRun({
          id: `w${String(i).padStart(3, '0')}`,
          experimentId: 'e4',
          createdBy: 'a',
          startTime: at(100 + i),
        });
        await experiments.logBatch(
          `w${String(i).padStart(3, '0')}`,
          { metrics: [{ key: 'accuracy', value: high ? 0.99 : 0.5 }] },
          at(300),
        );
      }
      const search = (limit: number, offset: number) =>
        experiments.searchRuns({
          experimentIds: ['e4'],
          filter: 'metrics.accuracy > 0.9',
          page: { limit, offset },
        });
      expect((await search(1, 0)).map((r) => r.id)).toEqual(['w119']);
      expect((await search(2, 0)).map((r) => r.id)).toEqual(['w119', 'w002']);
      expect((await search(2, 2)).map((r) => r.id)).toEqual(['w001', 'w000']);
      expect(await search(2, 4)).toEqual([]);
    });

    it('numbers 50 parallel version creations 1..50 without gaps or repeats', async () => {
      const models = new ModelRepository(db);
      await models.createModel({
        name: 'iris-classifier',
        type: 'classification',
        createdBy: 'a',
        createdAt: at(1),
      });
      await expect(
        models.createModel({ name: 'iris-classifier', type: 'x', createdBy: 'a', createdAt: at(1) }),
      ).rejects.toMatchObject({ status: 409 });
      const versions = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          db.transaction((tx) =>
            new ModelRepository(tx).createVersion({
              model: 'iris-classifier',
              format: 'tfjs',
              artifactUri: `artifact://models/iris/${i}/`,
              metrics: { accuracy: i / 100 },
              createdBy: 'a',
              createdAt: at(2),
            }),
          ),
        ),
      );
      expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      expect((await models.getModel('iris-classifier')).latestVersion).toBe(50);
    });

    it('resolves versions by number, alias and latest, and finds the latest of a type', async () => {
      const models = new ModelRepository(db);
      expect(await models.setAlias('iris-classifier', 'production', 7, 'ana', at(3))).toBeNull();
      expect(await models.setAlias('iris-classifier', 'production', 9, 'ana', at(4))).toBe(7);
      expect((await models.getVersion('iris-classifier', 'production')).version).toBe(9);
      expect((await models.getVersion('iris-classifier', 9)).aliases).toEqual(['production']);
      expect((await models.getVersion('iris-classifier', 'latest')).version).toBe(50);
      expect((await models.getModel('iris-classifier')).aliases).toEqual({ production: 9 });
      expect((await models.latestOfType('classification')).model).toBe('iris-classifier');
      await expect(models.getVersion('iris-classifier', 'staging')).rejects.toMatchObject({
        code: 'model_version_not_found',
      });
      await expect(models.getVersion('nope', 1)).rejects.toMatchObject({ code: 'model_not_found' });
      await expect(models.latestOfType('sentiment')).rejects.toMatchObject({ status: 404 });
    });

    it('walks lineage dataset → run → model upstream and downstream to the same edges', async () => {
      const lineage = new LineageRepository(db);
      await lineage.recordRun({
        runId: 'train-1',
        jobNamespace: 'aimesh',
        jobName: 'train',
        state: 'COMPLETE',
        eventTime: at(5).toISOString(),
        facets: {},
        inputs: ['dataset:iris@abc'],
        outputs: ['model:iris-classifier@1'],
      });
      const up = await lineage.walk('model:iris-classifier@1', 'upstream', 5);
      const down = await lineage.walk('dataset:iris@abc', 'downstream', 5);
      expect(up).toEqual(down);
      expect(up.map((e) => [e.source, e.target])).toEqual([
        ['dataset:iris@abc', 'run:train-1'],
        ['run:train-1', 'model:iris-classifier@1'],
      ]);
      expect(await lineage.walk('model:iris-classifier@1', 'upstream', 1)).toHaveLength(1);
      expect((await lineage.getRun('train-1'))?.outputs).toEqual(['model:iris-classifier@1']);
    });
  });
}
