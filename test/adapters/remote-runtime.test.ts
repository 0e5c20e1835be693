import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAiRuntime, v2RemoteRuntime } from '../../src/adapters/remote/remote-runtime.js';
import { startSlowV2Server } from '../support/slow-v2-server.js';

const noFiles = async () => new Uint8Array();

describe('remote runtimes', () => {
  let chat: Server;
  let chatUrl: string;
  let v2: Awaited<ReturnType<typeof startSlowV2Server>>;
  const seen: { model: string; auth?: string }[] = [];

  beforeAll(async () => {
    // A stand-in OpenAI-compatible chat server on loopback: answers "echo: <prompt>".
    chat = createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => {
        raw += c;
      });
      req.on('end', () => {
        const body = JSON.parse(raw) as { model: string; messages: { content: string }[] };
        seen.push({ model: body.model, auth: req.headers.authorization });
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            choices: [{ message: { role: 'assistant', content: `echo: ${body.messages[0].content}` } }],
          }),
        );
      });
    });
    await new Promise<void>((resolve) => chat.listen(0, '127.0.0.1', resolve));
    chatUrl = `http://127.0.0.1:${(chat.address() as { port: number }).port}`;
    v2 = await startSlowV2Server(0);
  });
  afterAll(async () => {
    await new Promise((resolve) => chat.close(resolve));
    await v2.close();
  });

  it('an OpenAI-compatible server answers each prompt of a batch as one chat completion', async () => {
    process.env.AIMESH_TEST_LLM_KEY = 'k-123';
    const model = await openAiRuntime.load({
      entry: '',
      read: noFiles,
      options: { url: chatUrl, model: 'small-llm', apiKeyEnv: 'AIMESH_TEST_LLM_KEY' },
    });
    expect(model.inputs).toEqual([{ name: 'prompt', datatype: 'BYTES', shape: [-1] }]);
    const [out] = await model.run([{ name: 'prompt', datatype: 'BYTES', shape: [2], data: ['hi', 'there'] }]);
    expect(out).toEqual({ name: 'text', datatype: 'BYTES', shape: [2], data: ['echo: hi', 'echo: there'] });
    expect(seen).toEqual([
      { model: 'small-llm', auth: 'Bearer k-123' },
      { model: 'small-llm', auth: 'Bearer k-123' },
    ]);
  });

  it('another V2 server: metadata at load, batches forwarded as V2 infer calls', async () => {
    const model = await v2RemoteRuntime.load({
      entry: '',
      read: noFiles,
      options: { url: v2.url, model: 'slow' },
    });
    expect(model.inputs).toEqual([{ name: 'x', datatype: 'FP32', shape: [-1, 1] }]);
    const [out] = await model.run([
      { name: 'x', datatype: 'FP32', shape: [3, 1], data: new Float32Array([1, 2, 3]) },
    ]);
    expect(out).toMatchObject({ name: 'y', datatype: 'FP32', shape: [3, 1] });
    expect(Array.from(out.data as Float32Array)).toEqual([1, 2, 3]);
  });

  it('an unreachable upstream is a 502 naming it', async () => {
    await expect(
      v2RemoteRuntime.load({ entry: '', read: noFiles, options: { url: 'http://127.0.0.1:1', model: 'm' } }),
    ).rejects.toMatchObject({ status: 502, code: 'upstream_unreachable' });
  });
});
