// One ONNX Runtime session on a worker thread of its own (see onnx-session-thread.ts).
import { parentPort, workerData } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import type { SessionReply, SessionRequest, WireTensor } from './onnx-session-thread.js';

const { bytes, sessionOptions } = workerData as {
  bytes: Uint8Array;
  sessionOptions: ort.InferenceSession.SessionOptions;
};
const port = parentPort!;
const { InferenceSession, Tensor } = await import('onnxruntime-node');

let session: ort.InferenceSession;
try {
  session = await InferenceSession.create(bytes, sessionOptions);
  const meta = session as unknown as { inputMetadata: unknown[]; outputMetadata: unknown[] };
  port.postMessage({
    ready: {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      inputMetadata: meta.inputMetadata,
      outputMetadata: meta.outputMetadata,
    },
  } satisfies SessionReply);
} catch (error) {
  port.postMessage({ failed: (error as Error).message } satisfies SessionReply);
  port.close();
}

// Runs are answered in the order they came; the native run blocks this thread, not the server's.
port.on('message', async (message: SessionRequest) => {
  if ('dispose' in message) {
    await session.release().catch(() => {});
    port.close();
    return;
  }
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of message.feeds) feeds[t.name] = new Tensor(t.type as never, t.data as never, t.dims);
    const results = await session.run(feeds);
    const outputs: WireTensor[] = [];
    const transfer = new Set<ArrayBuffer>();
    for (const name of session.outputNames) {
      const r = results[name];
      outputs.push({ name, type: r.type, dims: [...r.dims], data: r.data as WireTensor['data'] });
      if (ArrayBuffer.isView(r.data)) transfer.add(r.data.buffer as ArrayBuffer);
    }
    port.postMessage({ id: message.id, outputs } satisfies SessionReply, [...transfer]);
  } catch (error) {
    port.postMessage({ id: message.id, error: (error as Error).message } satisfies SessionReply);
  }
});
