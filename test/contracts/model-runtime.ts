import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/kernel/random.js';
import type { LoadedModel, ModelRuntime, ModelSource } from '../../src/ports/model-runtime.js';

/** What an adapter's suite provides: the runtime, a source of a 5 → 3 dense model, and that model's reference predictions. */
export interface RuntimeFixture {
  runtime: ModelRuntime;
  source: ModelSource;
  reference(rows: number[][]): Promise<Float32Array>;
  /** A source whose entry file is not a model of this format. */
  broken: ModelSource;
}

/** The ModelRuntime port's contract; every file-backed adapter runs it. */
export function modelRuntimeContract(name: string, fixture: () => Promise<RuntimeFixture>) {
  describe(`ModelRuntime contract: ${name}`, () => {
    let f: RuntimeFixture;
    let model: LoadedModel;
    const random = seededRandom(5);
    const rows = Array.from({ length: 6 }, () => Array.from({ length: 5 }, () => random.next() * 4 - 2));
    const input = (r: number[][]) => ({
      name: model.inputs[0].name,
      datatype: 'FP32' as const,
      shape: [r.length, 5],
      data: Float32Array.from(r.flat()),
    });

    beforeAll(async () => {
      f = await fixture();
      model = await f.runtime.load(f.source);
    });
    afterAll(() => model?.dispose());

    it('describes one FP32 input and output with a variable batch dimension', () => {
      expect(model.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 5] }]);
      expect(model.outputs).toEqual([{ name: 'output', datatype: 'FP32', shape: [-1, 3] }]);
    });

    it('runs a batch and keeps the batch as the first output dimension, matching the reference to 1e-5', async () => {
      const [out] = await model.run([input(rows)]);
      expect(out).toMatchObject({ name: 'output', datatype: 'FP32', shape: [6, 3] });
      const expected = await f.reference(rows);
      for (let i = 0; i < expected.length; i++)
        expect(Math.abs((out.data as Float32Array)[i] - expected[i])).toBeLessThan(1e-5);
    });

    it('gives each row the answer it gets alone (rows do not interact)', async () => {
      const [batched] = await model.run([input(rows)]);
      for (let r = 0; r < rows.length; r++) {
        const [alone] = await model.run([input([rows[r]])]);
        const slice = (batched.data as Float32Array).slice(r * 3, r * 3 + 3);
        for (let i = 0; i < 3; i++)
          expect(Math.abs(slice[i] - (alone.data as Float32Array)[i])).toBeLessThan(1e-6);
      }
    });

    it('refuses a file that is not its format with a 4xx error', async () => {
      await expect(f.runtime.load(f.broken)).rejects.toMatchObject({ status: expect.any(Number) });
      await f.runtime.load(f.broken).catch((error: { status: number }) => {
        expect(error.status).toBeGreaterThanOrEqual(400);
        expect(error.status).toBeLessThan(500);
      });
    });
  });
}
