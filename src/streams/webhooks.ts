import { createHmac } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/logger.js';
import type { Database } from '../ports/database.js';
import type { Subscription } from '../ports/event-bus.js';
import type { EventLog, LiveEvent } from '../ports/event-log.js';
import type { WebhookConfig } from './config.js';

// Deliveries waiting or retrying at once per webhook; beyond it new events are dropped and counted.
const MAX_QUEUED = 1_000;

/** `sha256=<hex>` of the body under the secret: what a receiver recomputes to trust a delivery. */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export interface WebhooksOptions {
  events: EventLog;
  db: Database;
  clock: Clock;
  logger: Logger;
  metrics?: Registry;
  hooks: WebhookConfig[];
  /** First retry wait; doubles per attempt. */
  baseDelayMs?: number;
}

/** A delivery that failed, as stored and listed. */
export interface WebhookFailure {
  url: string;
  eventId: string;
  /** Attempts made before giving up. */
  attempts: number;
  error: string;
  at: string;
}

/** The most recent failed deliveries first, optionally of one URL. */
export async function listWebhookFailures(
  db: Database,
  query: { url?: string; limit: number },
): Promise<WebhookFailure[]> {
  const { rows } = await db.query<{
    url: string;
    event_id: string;
    attempts: number;
    error: string;
    at: Date | string;
  }>(
    `SELECT url, event_id, attempts, error, at FROM aimesh_stream_webhook_failures
     WHERE ($1::text IS NULL OR url = $1) ORDER BY id DESC LIMIT $2`,
    [query.url ?? null, query.limit],
  );
  return rows.map((r) => ({
    url: r.url,
    eventId: r.event_id,
    attempts: r.attempts,
    error: r.error,
    at: new Date(r.at).toISOString(),
  }));
}

/**
 * Outgoing webhooks: each configured hook receives the events its types match as CloudEvents
 * JSON, signed with HMAC-SHA256, retried with exponential backoff; a delivery that fails every
 * attempt is counted and stored (aimesh_stream_webhook_failures).
 */
export class Webhooks {
  private readonly subscriptions: Subscription[] = [];
  private readonly queued = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly delivered?: Counter;
  private readonly failures?: Counter;
  private readonly failedAttempts?: Counter;

  constructor(private readonly o: WebhooksOptions) {
    if (o.metrics) {
      this.delivered = new Counter({
        name: 'aimesh_webhook_deliveries_total',
        help: 'Webhook deliveries by outcome (ok, retry, failed, dropped).',
        labelNames: ['url', 'outcome'],
        registers: [o.metrics],
      });
      this.failures = this.delivered;
      this.failedAttempts = new Counter({
        name: 'aimesh_webhook_failed_attempts_total',
        help: 'Attempts spent on webhook deliveries that failed in the end (with outcome="failed": attempts per failure).',
        labelNames: ['url'],
        registers: [o.metrics],
      });
    }
  }

  async start(): Promise<void> {
    for (const hook of this.o.hooks) {
      for (const pattern of hook.types) {
        this.subscriptions.push(await this.o.events.subscribe(pattern, (event) => this.enqueue(hook, event)));
      }
    }
  }

  async stop(): Promise<void> {
    for (const s of this.subscriptions) await s.close();
    this.abort.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private enqueue(hook: WebhookConfig, event: LiveEvent): void {
    const waiting = this.queued.get(hook.url) ?? 0;
    if (waiting >= MAX_QUEUED) {
      this.failures?.inc({ url: hook.url, outcome: 'dropped' });
      return;
    }
    this.queued.set(hook.url, waiting + 1);
    const work = this.deliver(hook, event).finally(() => {
      this.queued.set(hook.url, (this.queued.get(hook.url) ?? 1) - 1);
      this.inFlight.delete(work);
    });
    this.inFlight.add(work);
  }

  private async deliver(hook: WebhookConfig, event: LiveEvent): Promise<void> {
    const body = JSON.stringify(event);
    let lastError = '';
    // Attempts made: fewer than maxAttempts when an answer cannot change by retrying or on stop.
    let attempts = 0;
    for (let attempt = 1; attempt <= hook.maxAttempts; attempt++) {
      attempts = attempt;
      try {
        const response = await fetch(hook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/cloudevents+json',
            'x-aimesh-signature': signature(hook.secret, body),
            'x-aimesh-delivery-attempt': String(attempt),
          },
          body,
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(hook.timeoutMs)]),
        });
        await response.body?.cancel();
        if (response.ok) {
          this.delivered?.inc({ url: hook.url, outcome: 'ok' });
          return;
        }
        lastError = `HTTP ${response.status}`;
        // A 4xx other than 408/429 will not change by retrying.
        if (response.status < 500 && response.status !== 408 && response.status !== 429) break;
      } catch (error) {
        lastError = (error as Error).message;
        if (this.abort.signal.aborted) break;
      }
      if (attempt < hook.maxAttempts) {
        this.delivered?.inc({ url: hook.url, outcome: 'retry' });
        await this.o.clock
          .sleep((this.o.baseDelayMs ?? 500) * 2 ** (attempt - 1), this.abort.signal)
          .catch(() => {});
        if (this.abort.signal.aborted) break;
      }
    }
    this.failures?.inc({ url: hook.url, outcome: 'failed' });
    this.failedAttempts?.inc({ url: hook.url }, attempts);
    this.o.logger.warn(
      { url: hook.url, event: event.id, attempts, error: lastError },
      'webhook delivery failed',
    );
    await this.o.db
      .query(
        'INSERT INTO aimesh_stream_webhook_failures (url, event_id, attempts, error) VALUES ($1, $2, $3, $4)',
        [hook.url, event.id, attempts, lastError],
      )
      .catch((error) => this.o.logger.warn({ err: error }, 'recording a webhook failure failed'));
  }
}
