import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the upstream does with the next requests. */
export type Behaviour =
  | { kind: 'ok'; body?: unknown }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'status'; status: number; retryAfter?: string }
  /** Answers with this status and starts a body it never finishes. */
  | { kind: 'status-open-body'; status: number }
  | { kind: 'reset' }
  | { kind: 'hang' }
  | { kind: 'sse'; events: string[]; gapMs: number }
  /** A body of `bytes` bytes (byte i is i % 251), written as fast as the connection takes it. */
  | { kind: 'large'; bytes: number }
  /** Starts a 200 body, then resets the connection mid-body. */
  | { kind: 'reset-mid-body' };

/** A request as the upstream saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A real HTTP server on loopback that misbehaves on command (slow, 5xx, reset, hang, SSE). */
export interface MisbehavingUpstream {
  url: string;
  name: string;
  seen: SeenRequest[];
  /** Requests whose connection closed before the upstream answered them. */
  abandoned(): number;
  behave(b: Behaviour): void;
  close(): Promise<void>;
}

/** Starts one on 127.0.0.1, any free port; `name` comes back in every JSON answer. */
export async function startUpstream(
  name = 'upstream',
  initial: Behaviour = { kind: 'ok' },
): Promise<MisbehavingUpstream> {
  let behaviour = initial;
  const seen: SeenRequest[] = [];
  let abandoned = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    res.on('close', () => {
      if (!res.writableFinished) abandoned += 1;
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
        at: Date.now(),
      });
      const b = behaviour;
      const json = (status: number, body: unknown, extra: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...extra });
        res.end(JSON.stringify(body));
      };
      switch (b.kind) {
        case 'ok':
          return json(200, b.body ?? { upstream: name, path: req.url });
        case 'slow': {
          const timer = setTimeout(() => json(200, { upstream: name, slow: true }), b.delayMs);
          res.on('close', () => clearTimeout(timer));
          return;
        }
        case 'status':
          return json(
            b.status,
            { upstream: name, status: b.status },
            b.retryAfter ? { 'retry-after': b.retryAfter } : {},
          );
        case 'status-open-body':
          res.writeHead(b.status, { 'content-type': 'application/json' });
          res.write('{"upstream":');
          return;
        case 'reset':
          return req.socket.destroy();
        case 'hang':
          return;
        case 'large': {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': b.bytes });
          const chunk = 64 * 1024;
          let sent = 0;
          const more = () => {
            while (sent < b.bytes) {
              const n = Math.min(chunk, b.bytes - sent);
              const part = Buffer.allocUnsafe(n);
              for (let i = 0; i < n; i++) part[i] = (sent + i) % 251;
              sent += n;
              if (!res.write(part)) return void res.once('drain', more);
            }
            res.end();
          };
          return more();
        }
        case 'reset-mid-body':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"partial":');
          setTimeout(() => req.socket.destroy(), 20);
          return;
        case 'sse': {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          let i = 0;
          const next = () => {
            if (i >= b.events.length) return res.end();
            res.write(`data: ${b.events[i++]}\n\n`);
            timer = setTimeout(next, b.gapMs);
          };
          let timer = setTimeout(next, 0);
          res.on('close', () => clearTimeout(timer));
          return;
        }
      }
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    name,
    seen,
    abandoned: () => abandoned,
    behave(b) {
      behaviour = b;
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
