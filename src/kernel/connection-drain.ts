import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

interface Tracked {
  /** Requests answered on this connection so far. */
  served: number;
  /** Responses not yet finished on this connection. */
  open: Set<ServerResponse>;
}

/**
 * Tracks an HTTP server's connections so a stop answers what has already arrived.
 *
 * Node's `server.close()` destroys every connection without a request in progress, and that
 * includes one accepted a moment ago whose first request is still on its way: its client sees
 * a reset. Here a stop instead stops accepting, lets requests in progress finish with
 * `Connection: close`, closes keep-alive connections that sit idle between requests, and gives
 * a connection that has not sent its first request yet `graceMs` to send it (answered with
 * `Connection: close` too) before closing it.
 */
export class ConnectionDrain {
  private readonly connections = new Map<Socket, Tracked>();
  private stopping = false;
  private draining: Promise<void> | undefined;

  constructor(
    private readonly server: Server,
    private readonly graceMs: number,
  ) {
    server.on('connection', (socket: Socket) => {
      this.connections.set(socket, { served: 0, open: new Set() });
      socket.once('close', () => {
        this.connections.delete(socket);
        this.settled?.();
      });
    });
  }

  /** Called for every request before it is handled. */
  onRequest(req: IncomingMessage, res: ServerResponse): void {
    const tracked = this.connections.get(req.socket);
    if (this.stopping) res.setHeader('connection', 'close');
    if (!tracked) return;
    tracked.open.add(res);
    res.once('close', () => {
      tracked.open.delete(res);
      tracked.served += 1;
      // A connection idle again during a stop has had its answer; the response said close.
      if (this.stopping && tracked.open.size === 0 && !req.socket.destroyed) req.socket.end();
    });
  }

  /** Resolves once every connection is closed; a second call returns the same promise. */
  drain(): Promise<void> {
    this.draining ??= this.run();
    return this.draining;
  }

  private settled: (() => void) | undefined;

  private async run(): Promise<void> {
    this.stopping = true;
    // Stop accepting without http.Server.close(), which would drop the fresh connections too.
    if (this.server.listening) NetServer.prototype.close.call(this.server);
    for (const [socket, tracked] of this.connections) {
      if (tracked.open.size > 0) {
        for (const res of tracked.open) if (!res.headersSent) res.setHeader('connection', 'close');
      } else if (tracked.served > 0) {
        socket.end();
      }
    }
    const grace = setTimeout(() => {
      for (const [socket, tracked] of this.connections) if (tracked.open.size === 0) socket.destroy();
    }, this.graceMs);
    grace.unref();
    await new Promise<void>((resolve) => {
      this.settled = () => {
        if (this.connections.size === 0) resolve();
      };
      this.settled();
    });
    clearTimeout(grace);
  }
}
