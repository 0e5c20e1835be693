import type { ServerResponse } from 'node:http';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../kernel/logger.js';
import { type BusMessage, type EventBus, type Subscription, subjectMatches } from '../ports/event-bus.js';
import { decodeCloudEvent } from './cloud-event-json.js';

export interface LiveStreamOptions {
  bus: EventBus;
  logger: Logger;
  metrics?: Registry;
  /** Frames held for one client that is not reading; past this the client is dropped. */
  clientBufferSize: number;
  heartbeatMs: number;
}

interface Client {
  response: ServerResponse;
  /** Type pattern, NATS-style (`ai.inference.*`), or undefined for every event. */
  type?: string;
  backlog: string[];
  blocked: boolean;
}

/**
 * Fans the bus's live events (`subscribe('ai.>')`) out to Server-Sent-Events clients. One bus
 * subscription per process however many clients; each client has a bounded backlog, and a
 * client that falls further behind is disconnected rather than allowed to grow memory.
 */
export class LiveStream {
  private readonly clients = new Set<Client>();
  private subscription: Subscription | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly dropped?: Counter;
  private readonly sent?: Counter;

  constructor(private readonly o: LiveStreamOptions) {
    if (o.metrics) {
      this.dropped = new Counter({
        name: 'aimesh_events_stream_clients_dropped_total',
        help: 'Live-stream clients disconnected because they fell more than the buffer behind.',
        registers: [o.metrics],
      });
      this.sent = new Counter({
        name: 'aimesh_events_stream_sent_total',
        help: 'Events written to live-stream clients.',
        registers: [o.metrics],
      });
      const self = this;
      new Gauge({
        name: 'aimesh_events_stream_clients',
        help: 'Connected live-stream clients.',
        registers: [o.metrics],
        collect() {
          this.set(self.clients.size);
        },
      });
    }
  }

  /** Subscribes to the bus. */
  async start(): Promise<void> {
    this.subscription = await this.o.bus.subscribe('ai.>', (m) => this.broadcast(m));
    this.heartbeat = setInterval(() => {
      for (const client of this.clients) this.write(client, ': keep-alive\n\n');
    }, this.o.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Ends every client's stream and leaves the bus. */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.subscription?.close();
    for (const client of this.clients) client.response.end();
    this.clients.clear();
  }

  /** Turns `response` into an SSE stream of events whose type matches `type` (all when absent). */
  attach(response: ServerResponse, type: string | undefined): void {
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    response.write(': connected\n\n');
    const client: Client = { response, type, backlog: [], blocked: false };
    this.clients.add(client);
    response.on('drain', () => this.flush(client));
    response.on('close', () => this.clients.delete(client));
  }

  private broadcast(message: BusMessage): void {
    if (this.clients.size === 0) return;
    let type = message.headers['ce-type'];
    let body: string | undefined;
    if (!type) {
      const event = decodeCloudEvent(message.data);
      if (!event) return;
      type = event.type as string;
    }
    for (const client of this.clients) {
      if (client.type && !subjectMatches(client.type, type)) continue;
      body ??= `event: ${type}\ndata: ${new TextDecoder().decode(message.data)}\n\n`;
      this.write(client, body);
      this.sent?.inc();
    }
  }

  private write(client: Client, frame: string): void {
    if (client.blocked) {
      if (client.backlog.length >= this.o.clientBufferSize) {
        this.dropped?.inc();
        this.o.logger.warn({ backlog: client.backlog.length }, 'live-stream client too slow; dropped');
        this.clients.delete(client);
        client.response.destroy();
        return;
      }
      client.backlog.push(frame);
      return;
    }
    client.blocked = !client.response.write(frame);
  }

  private flush(client: Client): void {
    client.blocked = false;
    while (client.backlog.length > 0 && !client.blocked) {
      client.blocked = !client.response.write(client.backlog.shift()!);
    }
  }
}
