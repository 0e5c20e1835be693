import type { Socket } from 'node:net';

/**
 * One abort signal per caller connection, aborted when the connection closes: a caller that goes
 * away cancels its upstream call and any retry wait. Per connection rather than per request, as
 * an AbortController and a close listener per request showed in the gateway's profile and a
 * kept-alive connection carries thousands of calls. Bounded by the open connections: entries go
 * with their sockets.
 */
export class CallerSignals {
  private readonly signals = new WeakMap<Socket, AbortSignal>();

  /** The signal of the connection `socket`; already aborted when the connection is closed. */
  of(socket: Socket): AbortSignal {
    let signal = this.signals.get(socket);
    if (signal) return signal;
    const controller = new AbortController();
    signal = controller.signal;
    if (socket.destroyed) controller.abort();
    else socket.once('close', () => controller.abort());
    this.signals.set(socket, signal);
    return signal;
  }
}
