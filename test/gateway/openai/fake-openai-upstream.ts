import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

/** What the fake upstream saw of one call. */
export interface SeenCall {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/**
 * A small OpenAI-compatible server on loopback: chat completions (JSON, or SSE when `stream`),
 * embeddings. A streamed answer sends its first chunk, then waits for `releaseStream()` (or
 * 2 s) before the rest, so a test can tell a pass-through stream from a buffered one.
 * With `failWith` it answers every call with that status instead.
 */
export async function startFakeOpenAi(options: { failWith?: number } = {}) {
  const seen: SeenCall[] = [];
  let release: () => void = () => {};
  let released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', async () => {
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      seen.push({ path: req.url ?? '', headers: req.headers, body });
      if (options.failWith) {
        res.writeHead(options.failWith, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { message: 'overloaded', type: 'server_error' } }));
      }
      const model = String(body.model);
      if (req.url === '/v1/embeddings') {
        const vector = [0.5, 0.25, -1];
        // Like OpenAI: float arrays by default, little-endian float32 in base64 when asked.
        const embedding =
          body.encoding_format === 'base64'
            ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
            : vector;
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({
            object: 'list',
            model,
            data: [{ object: 'embedding', index: 0, embedding }],
            usage: { prompt_tokens: 4, total_tokens: 4 },
          }),
        );
      }
      const last = (body.messages as { content: string }[]).at(-1)?.content ?? '';
      const words = ['echo:', ...last.split(' ')];
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const chunk = (content: string | undefined, finish: string | null) =>
          `data: ${JSON.stringify({
            id: 'chatcmpl-1',
            object: 'chat.completion.chunk',
            created: 1_700_000_000,
            model,
            choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }],
          })}\n\n`;
        res.write(chunk(words[0], null));
        await Promise.race([released, new Promise((r) => setTimeout(r, 2_000))]);
        for (const w of words.slice(1)) res.write(chunk(` ${w}`, null));
        res.write(chunk(undefined, 'stop'));
        const streamOptions = body.stream_options as { include_usage?: boolean } | undefined;
        if (streamOptions?.include_usage) {
          const usage = { prompt_tokens: 10, completion_tokens: 15, total_tokens: 25 };
          res.write(
            `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [], usage })}\n\n`,
          );
        }
        res.end('data: [DONE]\n\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'chatcmpl-1',
          object: 'chat.completion',
          created: 1_700_000_000,
          model,
          choices: [
            { index: 0, message: { role: 'assistant', content: words.join(' ') }, finish_reason: 'stop' },
          ],
          usage: { prompt_tokens: 10, completion_tokens: 15, total_tokens: 25 },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    releaseStream() {
      release();
      released = new Promise<void>((resolve) => {
        release = resolve;
      });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
