import { Counter, Gauge, type Registry } from 'prom-client';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../kernel/logger.js';
import type { Random } from '../kernel/random.js';
import type { Database } from '../ports/database.js';
import type { EventBus } from '../ports/event-bus.js';
import type { StoredEvent } from '../ports/event-log.js';
import { encodeCloudEvent } from './cloud-event-json.js';
import type { EventStore } from './event-store.js';

// Publishes awaited together: large enough to hide the broker's round trip, small enough that a
// failure mid-chunk re-publishes little (the broker drops those re-publishes as duplicates).
const PUBLISH_CHUNK = 250;
// How often the lag gauge's store head is read again.
const HEAD_REFRESH_MS = 5_000;

export interface OutboxRelayOptions {
  store: EventStore;
  db: Database;
  bus: EventBus;
  clock: Clock;
  random: Random;
  logger: Logger;
  metrics?: Registry;
  /** This process's identity in the lease table. */
  owner: string;
  /** Cursor and lease name; one relay per name is active across all processes. */
  name?: string;
  batchSize?: number;
  pollIntervalMs?: number;
  leaseMs?: number;
  maxBackoffMs?: number;
}

/**
 * The outbox relay: publishes stored events to the bus in store order (message id = event id,
 * so the broker drops a re-publish after a crash), remembering its position durably. A lease
 * row makes it the only active relay across processes; the others wait to take over.
 */
export class OutboxRelay {
  private readonly name: string;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly leaseMs: number;
  private readonly maxBackoffMs: number;
  private cursor = 0;
  private head: { position: number; at: number } | undefined;
  private headTimer: NodeJS.Timeout | undefined;
  private readingHead = false;
  private leader = false;
  private leaseRenewedAt = 0;
  private stopping = false;
  private drainUntil = 0;
  private dirty = true;
  private wakeUp: (() => void) | undefined;
  private wakeOnAppend = true;
  private loop: Promise<void> | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly published?: Counter;
  private readonly failures?: Counter;

  constructor(private readonly o: OutboxRelayOptions) {
    this.name = o.name ?? 'relay';
    this.batchSize = o.batchSize ?? 500;
    this.pollIntervalMs = o.pollIntervalMs ?? 500;
    this.leaseMs = o.leaseMs ?? 15_000;
    this.maxBackoffMs = o.maxBackoffMs ?? 10_000;
    if (o.metrics) {
      this.published = new Counter({
        name: 'aimesh_relay_published_total',
        help: 'Events the outbox relay published to the bus.',
        registers: [o.metrics],
      });
      this.failures = new Counter({
        name: 'aimesh_relay_failures_total',
        help: 'Relay rounds that failed (bus or database unavailable); each is retried with backoff.',
        registers: [o.metrics],
      });
      const self = this;
      // A scrape never waits on the database: the head is read in the background (refreshHead).
      new Gauge({
        name: 'aimesh_relay_lag_events',
        help: 'Stored events the relay has not published yet, as of the last head reading (0 on a standby relay).',
        registers: [o.metrics],
        collect() {
          this.set(self.leader && self.head ? Math.max(0, self.head.position - self.cursor) : 0);
        },
      });
      new Gauge({
        name: 'aimesh_relay_lag_age_seconds',
        help: 'Age of the store head reading behind aimesh_relay_lag_events (grows while the database is unreachable).',
        registers: [o.metrics],
        collect() {
          this.set(self.head ? (self.o.clock.now() - self.head.at) / 1000 : 0);
        },
      });
      new Gauge({
        name: 'aimesh_relay_leader',
        help: '1 when this process holds the relay lease.',
        registers: [o.metrics],
        collect() {
          this.set(self.leader ? 1 : 0);
        },
      });
    }
  }

  /** True while this process holds the lease and publishes. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** The store position of the last event published. */
  get position(): number {
    return this.cursor;
  }

  /** Starts relaying in the background. */
  start(): void {
    if (this.loop) return;
    this.unsubscribe = this.o.store.onAppend(() => this.wake());
    this.loop = this.run();
    if (this.o.metrics) {
      this.headTimer = setInterval(() => void this.refreshHead(), HEAD_REFRESH_MS);
      this.headTimer.unref();
      void this.refreshHead();
    }
  }

  /** Reads the store head for the lag gauge; a failed reading keeps the last one (its age tells). */
  private async refreshHead(): Promise<void> {
    if (!this.leader || this.readingHead) return;
    this.readingHead = true;
    try {
      this.head = { position: await this.o.store.head(), at: this.o.clock.now() };
    } catch {
      // The relay's own rounds count and log the outage.
    } finally {
      this.readingHead = false;
    }
  }

  /** Publishes what is stored (until `deadline`), saves the cursor, releases the lease. */
  async stop(deadline = this.o.clock.now() + 5_000): Promise<void> {
    clearInterval(this.headTimer);
    await this.o.store.flush().catch(() => {});
    this.drainUntil = deadline;
    this.stopping = true;
    this.wake();
    await this.loop;
    this.unsubscribe?.();
    if (this.leader) {
      await this.o.db
        .query('DELETE FROM aimesh_event_leases WHERE name = $1 AND owner = $2', [this.name, this.o.owner])
        .catch((error) => this.o.logger.warn({ err: error }, 'releasing the relay lease failed'));
      this.leader = false;
    }
  }

  private wake(): void {
    this.dirty = true;
    if (this.wakeOnAppend || this.stopping) this.wakeUp?.();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (true) {
      try {
        if (!(await this.holdLease())) {
          if (this.stopping) return;
          // A standby ignores appends: it only needs to notice the lease coming free.
          await this.idle(Math.min(this.leaseMs / 3, 2_000), false);
          continue;
        }
        const published = await this.round();
        failures = 0;
        if (published > 0) continue;
        if (this.stopping) return;
        if (!this.dirty) await this.idle(this.pollIntervalMs);
      } catch (error) {
        failures += 1;
        this.failures?.inc();
        if (failures === 1 || failures % 20 === 0) {
          this.o.logger.warn({ err: error, failures, position: this.cursor }, 'relay round failed; retrying');
        }
        if (this.stopping && this.o.clock.now() >= this.drainUntil) return;
        // Full jitter (AWS's backoff advice): processes recovering together do not retry in step.
        const ceiling = Math.min(this.maxBackoffMs, 100 * 2 ** Math.min(failures, 16));
        let wait = Math.max(10, this.o.random.next() * ceiling);
        if (this.stopping) wait = Math.min(wait, Math.max(0, this.drainUntil - this.o.clock.now()));
        await this.idle(wait, false);
      }
    }
  }

  /** Publishes one batch after the cursor; returns how many were published. */
  private async round(): Promise<number> {
    this.dirty = false;
    if (this.stopping && this.o.clock.now() >= this.drainUntil) return 0;
    const events = await this.o.store.readFrom(this.cursor, this.batchSize);
    if (events.length === 0) return 0;
    let done = 0;
    try {
      // Pipelined: a chunk's publishes go out together and their acknowledgements are awaited
      // together (one round trip a chunk, not one an event). The connection keeps them in order.
      for (let start = 0; start < events.length; start += PUBLISH_CHUNK) {
        const chunk = events.slice(start, start + PUBLISH_CHUNK);
        const results = await Promise.allSettled(chunk.map((event) => this.publish(event)));
        const failed = results.findIndex((r) => r.status === 'rejected');
        const ok = failed < 0 ? chunk.length : failed;
        if (ok > 0) this.cursor = chunk[ok - 1].position;
        done += ok;
        // Those after a failure that did get through are published again next round: the
        // broker drops them as duplicates by message id.
        if (failed >= 0) throw (results[failed] as PromiseRejectedResult).reason;
        // A slow bus must not let the lease lapse mid-batch and hand the cursor to a second relay.
        if (!(await this.holdLease())) break;
      }
    } finally {
      this.published?.inc(done);
      if (done > 0) await this.saveCursor();
    }
    return done;
  }

  private publish(event: StoredEvent): Promise<void> {
    const headers: Record<string, string> = {
      'content-type': 'application/cloudevents+json',
      'ce-type': event.type,
    };
    if (event.partitionkey) headers['ce-partitionkey'] = event.partitionkey;
    return this.o.bus.publish(event.topic, encodeCloudEvent(event), { msgId: event.id, headers });
  }

  /** Takes or renews the lease when due; true while this process holds it. */
  private async holdLease(): Promise<boolean> {
    const now = this.o.clock.now();
    if (this.leader && now - this.leaseRenewedAt < this.leaseMs / 3) return true;
    const result = await this.o.db.query<{ owner: string }>(
      `INSERT INTO aimesh_event_leases (name, owner, expires_at)
       VALUES ($1, $2, now() + make_interval(secs => $3::double precision / 1000))
       ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at
       WHERE aimesh_event_leases.owner = EXCLUDED.owner OR aimesh_event_leases.expires_at < now()
       RETURNING owner`,
      [this.name, this.o.owner, this.leaseMs],
    );
    const held = result.rows.length > 0;
    if (held && !this.leader) {
      this.cursor = await this.loadCursor();
      this.o.logger.info({ position: this.cursor }, 'outbox relay active');
    } else if (!held && this.leader) {
      this.o.logger.warn('outbox relay lost its lease; standing by');
    }
    this.leader = held;
    if (held) this.leaseRenewedAt = now;
    return held;
  }

  private async loadCursor(): Promise<number> {
    const result = await this.o.db.query<{ position: number }>(
      'SELECT position FROM aimesh_event_cursors WHERE name = $1',
      [this.name],
    );
    return Number(result.rows[0]?.position ?? 0);
  }

  // Only while holding the lease: a relay that stalled past its lease must not move the cursor
  // its successor now owns (its stray publishes are dropped by the broker as duplicates).
  private async saveCursor(): Promise<void> {
    const result = await this.o.db.query(
      `INSERT INTO aimesh_event_cursors (name, position, updated_at)
       SELECT $1, $2, now() WHERE EXISTS (
         SELECT 1 FROM aimesh_event_leases WHERE name = $1 AND owner = $3 AND expires_at > now())
       ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()`,
      [this.name, this.cursor, this.o.owner],
    );
    if (result.rowCount === 0) {
      this.leader = false;
      this.o.logger.warn('outbox relay lease expired while publishing; standing by');
    }
  }

  /** Waits `ms`; `stop` always cuts it short, a local append only when `wakeOnAppend`. */
  private async idle(ms: number, wakeOnAppend = true): Promise<void> {
    // Draining: no poll wait between rounds. A backoff still waits, or a dead bus would spin.
    if (wakeOnAppend && (this.dirty || (this.stopping && this.leader))) return;
    this.wakeOnAppend = wakeOnAppend;
    const abort = new AbortController();
    await Promise.race([
      this.o.clock.sleep(ms, abort.signal).catch(() => {}),
      new Promise<void>((resolve) => {
        this.wakeUp = resolve;
      }),
    ]);
    this.wakeUp = undefined;
    abort.abort();
  }
}
