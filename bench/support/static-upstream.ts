// The upstream every scenario ends at: node `http` answering at once with a small fixed JSON,
// so what is measured is what stands in front of it. An inference answer by default, an OpenAI
// chat completion (with `usage`, which the gateway reads for token quotas) under /v1/.
// Run as a process of its own; sends `{ port }` to the bench over IPC.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const inference = JSON.stringify({
  outputs: [{ name: 'label', datatype: 'BYTES', shape: [1], data: ['positive'] }],
});
const chat = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'bench-chat',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Positive.' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
});
const answers = {
  inference: { body: inference, length: String(Buffer.byteLength(inference)) },
  chat: { body: chat, length: String(Buffer.byteLength(chat)) },
};

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const answer = req.url?.startsWith('/v1/') ? answers.chat : answers.inference;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
    res.end(answer.body);
  });
});
server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
process.on('SIGTERM', () => process.exit(0));
