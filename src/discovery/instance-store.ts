import type { Database } from '../ports/database.js';
import type { ServiceInstance } from './api.js';

interface Row {
  id: string;
  service: string;
  url: string;
  metadata: Record<string, unknown>;
  registered_at: Date;
  last_heartbeat_at: Date;
  ttl_ms: number;
}

const toInstance = (r: Row): ServiceInstance => ({
  id: r.id,
  service: r.service,
  url: r.url,
  metadata: typeof r.metadata === 'string' ? JSON.parse(r.metadata) : (r.metadata ?? {}),
  registeredAt: new Date(r.registered_at).toISOString(),
  lastHeartbeatAt: new Date(r.last_heartbeat_at).toISOString(),
  ttlMs: Number(r.ttl_ms),
});

const COLUMNS = 'id, service, url, metadata, registered_at, last_heartbeat_at, ttl_ms';

/** The instances table: the shared truth every process's local view is rebuilt from. */
export class InstanceStore {
  constructor(private readonly db: Database) {}

  /** Inserts or replaces a registration. */
  async upsert(instance: ServiceInstance): Promise<void> {
    const expires = new Date(Date.parse(instance.lastHeartbeatAt) + instance.ttlMs);
    await this.db.query(
      `INSERT INTO aimesh_discovery_instances (id, service, url, metadata, registered_at, last_heartbeat_at, ttl_ms, expires_at)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8)
       ON CONFLICT (id) DO UPDATE SET service = EXCLUDED.service, url = EXCLUDED.url, metadata = EXCLUDED.metadata,
         last_heartbeat_at = EXCLUDED.last_heartbeat_at, ttl_ms = EXCLUDED.ttl_ms, expires_at = EXCLUDED.expires_at`,
      [
        instance.id,
        instance.service,
        instance.url,
        JSON.stringify(instance.metadata),
        instance.registeredAt,
        instance.lastHeartbeatAt,
        instance.ttlMs,
        expires.toISOString(),
      ],
    );
  }

  /** Renews a registration; returns the instance, or undefined when it is gone (expired or removed). */
  async heartbeat(id: string, at: number): Promise<ServiceInstance | undefined> {
    const result = await this.db.query<Row>(
      `UPDATE aimesh_discovery_instances
       SET last_heartbeat_at = $2, expires_at = $2::timestamptz + (ttl_ms || ' milliseconds')::interval
       WHERE id = $1 AND expires_at > $2 RETURNING ${COLUMNS}`,
      [id, new Date(at).toISOString()],
    );
    return result.rows[0] ? toInstance(result.rows[0]) : undefined;
  }

  /** Removes a registration; true when it existed. */
  async remove(id: string): Promise<boolean> {
    const result = await this.db.query('DELETE FROM aimesh_discovery_instances WHERE id = $1', [id]);
    return result.rowCount > 0;
  }

  /** One registration, expired or not. */
  async get(id: string): Promise<ServiceInstance | undefined> {
    const result = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM aimesh_discovery_instances WHERE id = $1`,
      [id],
    );
    return result.rows[0] ? toInstance(result.rows[0]) : undefined;
  }

  /** Every unexpired registration (optionally of one service), at most `limit`. */
  async live(now: number, limit: number, service?: string): Promise<ServiceInstance[]> {
    const result = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM aimesh_discovery_instances
       WHERE expires_at > $1 AND ($2::text IS NULL OR service = $2) ORDER BY service, registered_at LIMIT $3`,
      [new Date(now).toISOString(), service ?? null, limit],
    );
    return result.rows.map(toInstance);
  }

  /** Deletes rows expired before `now`; returns how many. */
  async purgeExpired(now: number): Promise<number> {
    const result = await this.db.query('DELETE FROM aimesh_discovery_instances WHERE expires_at <= $1', [
      new Date(now).toISOString(),
    ]);
    return result.rowCount;
  }
}
