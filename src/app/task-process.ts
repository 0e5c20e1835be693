import { createLocalArtifactStore } from '../adapters/local/local-artifact-store.js';
import { tfjsTrainer } from '../adapters/tfjs/tfjs-trainer.js';
import { type RunMessage, runStage, type TaskProcessMessage } from '../worker/index.js';

// One task process runs one stage and exits; the worker reads its messages over IPC.
const send = (message: TaskProcessMessage) =>
  new Promise<void>((resolve) => (process.send ? process.send(message, () => resolve()) : resolve()));

process.once('message', async (message: RunMessage) => {
  try {
    const result = await runStage(message.input, {
      trainer: tfjsTrainer,
      artifacts: createLocalArtifactStore(message.artifactsDir),
      log: (line) => void send({ kind: 'log', line }),
      progress: (metrics) => void send({ kind: 'progress', metrics }),
    });
    await send({ kind: 'done', result });
  } catch (error) {
    await send({ kind: 'error', message: (error as Error).message ?? String(error) });
  }
  process.disconnect?.();
  process.exit(0);
});
