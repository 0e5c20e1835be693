// The floor for a proxy in Node: `http` in, `undici` out, headers and body passed through and
// nothing else. Usage: bare-proxy.ts <upstream origin>. Run as a process of its own; sends
// `{ port }` to the bench over IPC.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { Pool } from 'undici';

const pool = new Pool(process.argv.at(-1)!, { connections: 128 });
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    try {
      const { connection: _c, host: _h, ...headers } = req.headers;
      const up = await pool.request({
        method: req.method as 'POST',
        path: req.url ?? '/',
        headers: headers as Record<string, string>,
        body: chunks.length ? Buffer.concat(chunks) : null,
      });
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(up.headers))
        if (v !== undefined && k !== 'connection' && k !== 'keep-alive') out[k] = v;
      res.writeHead(up.statusCode, out);
      pipeline(up.body, res, () => {});
    } catch {
      res.writeHead(502).end();
    }
  });
});
server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
process.on('SIGTERM', () => process.exit(0));
