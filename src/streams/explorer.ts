import { encodeCloudEvent } from '../events/index.js';
import { badRequest, notFound } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import type { Database } from '../ports/database.js';
import type { EventBus } from '../ports/event-bus.js';
import type { EventLog, StoredEvent } from '../ports/event-log.js';
import type { WindowResult } from './window-aggregator.js';

// A causation tree larger than this is cut (and says so): one request must stay bounded.
const MAX_TREE = 1_000;
const MAX_DEPTH = 64;

/** A node of a causation tree. */
export interface CausationNode {
  event: StoredEvent;
  children: CausationNode[];
}

/** The subject a replay to `consumer` publishes an event of `type` on. */
export function replaySubject(consumer: string, type: string): string {
  return `ai.replay.${consumer}.${type}`;
}

export interface ExplorerOptions {
  db: Database;
  bus: EventBus;
  events: EventLog;
  now(): number;
}

/** Reads across the event log: causation trees, correlations, replays, window results. */
export class Explorer {
  constructor(private readonly o: ExplorerOptions) {}

  /** The causation tree holding event `id`, from its root cause down. */
  async causation(id: string): Promise<{ root: CausationNode; size: number; truncated: boolean }> {
    let current = await this.byId(id);
    if (!current) throw notFound('event_not_found', `no event with id ${id}`);
    for (let depth = 0; current.causationid && depth < MAX_DEPTH; depth++) {
      const parent = await this.byId(current.causationid);
      if (!parent) break;
      current = parent;
    }
    const root: CausationNode = { event: current, children: [] };
    let size = 1;
    let truncated = false;
    let level = [root];
    for (let depth = 0; level.length > 0 && depth < MAX_DEPTH; depth++) {
      const next: CausationNode[] = [];
      for (const node of level) {
        if (size >= MAX_TREE) {
          truncated = true;
          break;
        }
        const children = await this.o.events.query({ causationId: node.event.id, limit: MAX_TREE - size });
        for (const child of children) {
          const childNode = { event: child, children: [] };
          node.children.push(childNode);
          next.push(childNode);
        }
        size += children.length;
      }
      level = next;
    }
    return { root, size, truncated };
  }

  /** Every event of a correlation id, in store order. */
  correlation(id: string, limit: number): Promise<StoredEvent[]> {
    return this.o.events.query({ correlationId: id, limit });
  }

  /**
   * Publishes the stored events of a time range to `consumer` (on `ai.replay.<consumer>.<type>`,
   * which that consumer group reads besides its live subjects). Its processed-event record still
   * applies: a replay re-runs only what the group has not handled.
   */
  async replay(q: { from: string; to: string; consumer: string; type?: string; limit: number }) {
    const from = Date.parse(q.from);
    const to = Date.parse(q.to);
    if (!Number.isFinite(from) || !Number.isFinite(to))
      throw badRequest('invalid_range', 'from and to must be RFC 3339 times');
    if (to < from) throw badRequest('invalid_range', 'to is before from');
    const events = await this.o.events.query({ from: q.from, to: q.to, type: q.type, limit: q.limit });
    const replayId = newId(this.o.now());
    await Promise.all(
      events.map((e) =>
        this.o.bus.publish(replaySubject(q.consumer, e.type), encodeCloudEvent(e), {
          msgId: `replay:${replayId}:${e.id}`,
          headers: {
            'ce-type': e.type,
            'Aimesh-Replay': replayId,
            ...(e.partitionkey ? { 'ce-partitionkey': e.partitionkey } : {}),
          },
        }),
      ),
    );
    return { replayId, consumer: q.consumer, published: events.length, truncated: events.length === q.limit };
  }

  /** Closed windows' results for a key (or every key) whose start lies in [from, to]. */
  async windows(q: { key?: string; from?: string; to?: string; limit: number }): Promise<WindowResult[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    for (const [name, value] of [
      ['from', q.from],
      ['to', q.to],
    ] as const) {
      if (value !== undefined && !Number.isFinite(Date.parse(value)))
        throw badRequest('invalid_range', `${name} is not an RFC 3339 time: ${value}`);
    }
    if (q.key) add('key = ?', q.key);
    if (q.from) add('window_start >= ?', q.from);
    if (q.to) add('window_start <= ?', q.to);
    params.push(q.limit);
    const result = await this.o.db.query<Record<string, unknown>>(
      `SELECT * FROM aimesh_stream_windows ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY window_start, key LIMIT $${params.length}`,
      params,
    );
    return result.rows.map((r) => ({
      key: String(r.key),
      start: new Date(r.window_start as string).getTime(),
      end: new Date(r.window_end as string).getTime(),
      count: Number(r.count),
      errors: Number(r.errors),
      latencyMean: Number(r.latency_mean),
      latencyP50: Number(r.latency_p50),
      latencyP95: Number(r.latency_p95),
      latencyP99: Number(r.latency_p99),
      tokens: Number(r.tokens),
      cost: Number(r.cost),
    }));
  }

  private async byId(id: string): Promise<StoredEvent | undefined> {
    const found = await this.o.db.query<{ position: number }>(
      'SELECT position FROM aimesh_events WHERE id = $1',
      [id],
    );
    const position = found.rows[0]?.position;
    if (position === undefined) return undefined;
    const [event] = await this.o.events.query({ afterPosition: Number(position) - 1, limit: 1 });
    return event;
  }
}
