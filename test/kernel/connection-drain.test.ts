import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { role } from '../../src/kernel/access.js';
import { createHttpServer, type HttpServer } from '../../src/kernel/http.js';
import { createLogger } from '../../src/kernel/logger.js';
import { sleep } from '../support/wait.js';

/** What one raw connection saw: the bytes it got and whether it was reset. */
interface Seen {
  text: string;
  reset: boolean;
  closed: Promise<void>;
}

function watch(socket: Socket): Seen {
  const seen = { text: '', reset: false } as Seen;
  socket.on('data', (d) => {
    seen.text += d.toString();
  });
  seen.closed = new Promise((resolve) => {
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') seen.reset = true;
    });
    socket.on('close', () => resolve());
  });
  return seen;
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`;
const responses = (text: string) => text.match(/HTTP\/1\.1 200 OK/g)?.length ?? 0;

let app: HttpServer | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function server(): Promise<number> {
  app = await createHttpServer({
    logger: createLogger('silent'),
    bodyLimitBytes: 1024,
    firstRequestGraceMs: 1000,
  });
  app.get('/fast', { config: role('public') }, async () => ({ ok: true }));
  app.get('/slow', { config: role('public') }, async () => {
    await sleep(300);
    return { ok: true };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

describe('a stopping HTTP server answers what has arrived', () => {
  it('serves 20 connections opened 50–150 ms before the stop, whose requests come before or after it', async () => {
    const port = await server();
    const seen: Seen[] = [];
    const sockets: Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const socket = await open(port);
      sockets.push(socket);
      seen.push(watch(socket));
      // Half send their request at once, half only after the stop has begun.
      if (i % 2 === 0) socket.write(get('/fast'));
      await sleep(5); // the 20 connections spread over ~100 ms
    }
    await sleep(50);
    const closing = app!.close();
    const late = sockets.filter((_, i) => i % 2 === 1);
    await Promise.all(
      late.map((socket, k) => sleep(20 + k * 15).then(() => void socket.write(get('/fast')))),
    );
    await closing;
    app = undefined;
    await Promise.all(seen.map((s) => s.closed));
    for (const s of seen) {
      expect(s.reset).toBe(false);
      expect(responses(s.text)).toBe(1);
    }
    // Those whose request arrived during the stop were told the connection closes.
    for (const s of seen.filter((_, i) => i % 2 === 1)) expect(s.text).toMatch(/connection: close/i);
  });

  it('finishes a request in progress with Connection: close and closes idle keep-alive connections', async () => {
    const port = await server();
    const busy = await open(port);
    const busySeen = watch(busy);
    busy.write(get('/slow'));
    const idle = await open(port);
    const idleSeen = watch(idle);
    idle.write(get('/fast'));
    while (responses(idleSeen.text) === 0) await sleep(5);
    await sleep(50);
    const started = Date.now();
    await app!.close();
    app = undefined;
    await Promise.all([busySeen.closed, idleSeen.closed]);
    expect(busySeen.reset).toBe(false);
    expect(responses(busySeen.text)).toBe(1);
    expect(busySeen.text).toMatch(/connection: close/i);
    expect(idleSeen.reset).toBe(false);
    expect(responses(idleSeen.text)).toBe(1);
    // The idle connection did not hold the stop up to the first-request grace.
    expect(Date.now() - started).toBeLessThan(900);
  });

  it('closes a connection that never sends a request once the grace has passed', async () => {
    const port = await server();
    const silent = watch(await open(port));
    const started = Date.now();
    await app!.close();
    app = undefined;
    await silent.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(silent.text).toBe('');
  });
});
