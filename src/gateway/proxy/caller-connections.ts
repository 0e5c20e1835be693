import type { Socket } from 'node:net';
import type { CallerGoneListener, CallerWatch } from './upstream-client.js';

/**
 * One caller connection as the calls made for it see it: an abort signal, aborted when the
 * connection closes (for waits, such as a retry's backoff), and the calls in flight for it,
 * each told directly. A call registers here rather than as a listener on the signal: Node's
 * EventTarget allocates a listener, a list head and a map entry per registration and removes
 * them again, which cost the gateway about 10 µs of CPU per call; a set costs next to nothing.
 */
export class CallerConnection implements CallerWatch {
  private readonly controller = new AbortController();
  private readonly watchers = new Set<CallerGoneListener>();
  /** Aborted once the connection has closed. */
  readonly signal = this.controller.signal;

  /** Tells `call` when the connection closes, until `unwatch`. */
  watch(call: CallerGoneListener): void {
    this.watchers.add(call);
  }

  unwatch(call: CallerGoneListener): void {
    this.watchers.delete(call);
  }

  /** The connection closed: aborts the signal and tells every call in flight. */
  closed(): void {
    this.controller.abort();
    for (const call of this.watchers) call.callerGone();
    this.watchers.clear();
  }
}

/**
 * One `CallerConnection` per caller connection, so a caller that goes away cancels its upstream
 * call and any retry wait. Per connection rather than per request, as an AbortController and a
 * close listener per request showed in the gateway's profile and a kept-alive connection
 * carries thousands of calls. Bounded by the open connections: entries go with their sockets.
 */
export class CallerConnections {
  private readonly connections = new WeakMap<Socket, CallerConnection>();

  /** The connection of `socket`; its signal is already aborted when the connection is closed. */
  of(socket: Socket): CallerConnection {
    const known = this.connections.get(socket);
    if (known) return known;
    const connection = new CallerConnection();
    if (socket.destroyed) connection.closed();
    else socket.once('close', () => connection.closed());
    this.connections.set(socket, connection);
    return connection;
  }
}
