import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { type CallerGoneListener, type CallerWatch, classifyError, UpstreamError } from './upstream-call.js';

/** Told once when an exchange's body has been relayed in full (no error) or has failed. */
export interface ExchangeSink {
  relayEnded(error: Error | undefined): void;
}

/** Shown each chunk of a relayed body as it passes (to read what it reports, e.g. token usage). */
export interface ChunkTap {
  tapped(chunk: Buffer): void;
}

const SINK_EXCHANGE = Symbol('upstream exchange');
type SinkResponse = ServerResponse & { [SINK_EXCHANGE]?: UpstreamExchange };

/**
 * One upstream call on undici's dispatch interface. Resolves at the response headers; the body
 * then flows chunk by chunk into the server response given to `relay` (held back while that
 * response's buffer is full), or is dropped by `discard`. Chunks that arrive before `relay` are
 * kept. The caller going away (its signal, or the response closing early) aborts the call.
 */
export class UpstreamExchange implements Dispatcher.DispatchHandler, CallerGoneListener {
  status = 0;
  headers: IncomingHttpHeaders = {};
  private controller: Dispatcher.DispatchController | undefined;
  private resolveStart: ((exchange: UpstreamExchange) => void) | undefined;
  private rejectStart: ((error: UpstreamError) => void) | undefined;
  private early: Buffer[] | undefined;
  private sink: SinkResponse | undefined;
  private listener: ExchangeSink | undefined;
  private tap: ChunkTap | undefined;
  private held: { leave(): void } | undefined;
  private ended = false;
  private failure: Error | undefined;
  private settled = false;
  private discarded = false;

  constructor(
    private readonly target: string,
    private readonly signal: AbortSignal | undefined,
    private readonly caller?: CallerWatch,
  ) {}

  /** The promise of the response headers (called once, before dispatching). */
  started(): Promise<UpstreamExchange> {
    if (this.caller) this.caller.watch(this);
    else if (this.signal) {
      this.onCallerGone = this.callerGone.bind(this);
      this.signal.addEventListener('abort', this.onCallerGone);
    }
    return new Promise((resolve, reject) => {
      this.resolveStart = resolve;
      this.rejectStart = reject;
    });
  }

  /** Leaves `held` (a bulkhead) once the exchange is over: body relayed or dropped, or the call failed. */
  leaveWhenSettled(held: { leave(): void }): void {
    if (this.settled) held.leave();
    else this.held = held;
  }

  /**
   * Writes the body into `res` (whose head the caller has written) and ends it; tells `listener`,
   * and shows `tap` every chunk on its way.
   */
  relay(res: ServerResponse, listener: ExchangeSink, tap?: ChunkTap): void {
    const sink = res as SinkResponse;
    this.sink = sink;
    this.listener = listener;
    this.tap = tap;
    sink[SINK_EXCHANGE] = this;
    sink.once('close', onSinkClose);
    if (this.early) {
      for (const chunk of this.early) {
        tap?.tapped(chunk);
        sink.write(chunk);
      }
      this.early = undefined;
    }
    if (this.failure) this.fail(this.failure);
    else if (this.ended) this.finish();
  }

  /** Drops the body (a retry, an answer nobody will read); aborts the call if it is still coming. */
  discard(): void {
    if (this.discarded) return;
    this.discarded = true;
    this.early = undefined;
    if (this.ended || this.failure) this.settle();
    else this.controller?.abort(new UpstreamError('aborted', this.target, 'response discarded', true));
  }

  // A function, not this object with a handleEvent: Node's EventTarget wraps an object listener
  // in an async closure of its own, and with one on the connection's long-lived signal about a
  // fifth of every call's objects (5.6 KB) outlived two scavenges into the old generation, where
  // only major collections free them (and scavenges took 20 µs a call, not 3). With a function, 0.1 KB.
  // Bound rather than an arrow in a field: the loader names each such arrow as it is made, which
  // cost more than the bind. Only made where there is no caller connection to register with.
  private onCallerGone: (() => void) | undefined;

  /** The caller went away: the call is aborted. */
  callerGone(): void {
    this.controller?.abort(this.signal?.reason ?? new Error('aborted'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode < 200) return;
    this.status = statusCode;
    this.headers = headers;
    const resolve = this.resolveStart;
    this.resolveStart = undefined;
    this.rejectStart = undefined;
    resolve?.(this);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.discarded) return;
    const sink = this.sink;
    if (!sink) {
      if (this.early) this.early.push(chunk);
      else this.early = [chunk];
      return;
    }
    if (this.tap) this.tap.tapped(chunk);
    if (!sink.write(chunk)) {
      controller.pause();
      sink.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.ended = true;
    if (this.discarded) this.settle();
    else if (this.sink) this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const reject = this.rejectStart;
    if (reject) {
      this.resolveStart = undefined;
      this.rejectStart = undefined;
      this.settle();
      reject(classifyError(error, this.target, this.signal));
      return;
    }
    this.failure = error;
    if (this.discarded) this.settle();
    else if (this.sink) this.fail(error);
  }

  /** The response closed: fine after the end; otherwise the caller went away mid-body. */
  sinkClosed(): void {
    if (this.settled || this.ended) return;
    const error = new UpstreamError('aborted', this.target, 'the caller closed the connection', true);
    this.controller?.abort(error);
    this.fail(error);
  }

  private finish(): void {
    this.sink!.end();
    this.settle();
    this.listener?.relayEnded(undefined);
  }

  private fail(error: Error): void {
    if (this.settled) return;
    this.sink?.destroy();
    this.settle();
    this.listener?.relayEnded(error);
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.caller) this.caller.unwatch(this);
    else if (this.onCallerGone) this.signal?.removeEventListener('abort', this.onCallerGone);
    const held = this.held;
    this.held = undefined;
    held?.leave();
  }
}

function onSinkClose(this: SinkResponse): void {
  this[SINK_EXCHANGE]?.sinkClosed();
}
