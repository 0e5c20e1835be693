import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ROLES, type Role } from '../../kernel/access.js';
import type { Clock } from '../../kernel/clock.js';
import { notFound } from '../../kernel/errors.js';
import { newId } from '../../kernel/ids.js';
import type { Database } from '../../ports/database.js';

/** What is known about an API key; never the key itself. */
export interface ApiKeyRecord {
  id: string;
  /** The first characters of the key, so people can tell their keys apart in listings. */
  prefix: string;
  owner: string;
  /** What the key may do; a key made without roles is a `caller`. */
  roles: Role[];
  team?: string;
  name?: string;
  createdAt: Date;
  expiresAt?: Date;
  revokedAt?: Date;
}

/** A new key: the record plus the key, which is shown this once and never stored. */
export interface CreatedApiKey extends ApiKeyRecord {
  key: string;
}

/** What a key creation asks for. */
export interface NewApiKey {
  owner: string;
  /** Default `['caller']`. */
  roles?: Role[];
  team?: string;
  name?: string;
  expiresInMs?: number;
}

/** Options of the key store. */
export interface ApiKeyStoreOptions {
  db: Database;
  clock: Clock;
  /** How long a lookup is trusted from memory; bounds how late a revocation reaches other processes. */
  cacheTtlMs: number;
  /**
   * How long past `cacheTtlMs` a cached lookup still answers while the database is unreachable
   * (stale-if-error), so verified keys survive a short database restart; 0 turns it off.
   */
  staleIfErrorMs?: number;
  cacheSize: number;
  metrics?: Registry;
}

interface Row {
  id: string;
  hash: string;
  prefix: string;
  owner: string;
  roles: string[] | null;
  team: string | null;
  name: string | null;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
}

interface CacheEntry {
  at: number;
  record: ApiKeyRecord | null;
}

const KEY_PREFIX = 'aim_';

/** The sha256 of a key, hex: what the table stores and looks keys up by. */
export function hashApiKey(key: string): string {
  // The one-shot form: no Hash object per request on the gateway's hot path.
  return hash('sha256', key, 'hex');
}

/** True when `value` has the shape of an aimesh API key (as opposed to a JWT). */
export function looksLikeApiKey(value: string): boolean {
  return value.startsWith(KEY_PREFIX);
}

/**
 * API keys in the database, stored as sha256 hashes (the keys carry 256 random bits, so a plain
 * hash is as strong as a slow one). Lookups are cached in a bounded map — found and not found —
 * so the hot path rarely reaches the database; a revocation in this process drops its entry at
 * once, other processes see it within `cacheTtlMs`. While the database is unreachable, a cached
 * answer keeps serving for `staleIfErrorMs` more; a key never seen answers 503.
 */
export class ApiKeyStore {
  private readonly cache = new Map<string, CacheEntry>();
  // Labelled children resolved once: `inc({ result })` would hash the labels on every request.
  private readonly cacheHits?: { inc(): void };
  private readonly databaseLookups?: { inc(): void };
  private readonly staleAnswers?: { inc(): void };

  constructor(private readonly options: ApiKeyStoreOptions) {
    if (options.metrics) {
      const cache = this.cache;
      new Gauge({
        name: 'aimesh_gateway_api_key_cache_entries',
        help: 'API key lookups held in memory',
        registers: [options.metrics],
        collect() {
          this.set(cache.size);
        },
      });
      const lookups = new Counter({
        name: 'aimesh_gateway_api_key_lookups_total',
        help: 'API key lookups by where they were answered (cache, database, or stale: a cached answer past its time while the database is unreachable)',
        labelNames: ['result'],
        registers: [options.metrics],
      });
      this.cacheHits = lookups.labels('cache');
      this.databaseLookups = lookups.labels('database');
      this.staleAnswers = lookups.labels('stale');
    }
  }

  /** Creates a key for `owner`; the returned `key` is the only copy there will ever be. */
  async create(input: NewApiKey): Promise<CreatedApiKey> {
    // Keys are secrets: they come from the CSPRNG, not the injected (seedable) random source.
    const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const now = this.options.clock.now();
    const record: ApiKeyRecord = {
      id: newId(now),
      prefix: key.slice(0, KEY_PREFIX.length + 6),
      owner: input.owner,
      roles: input.roles && input.roles.length > 0 ? [...new Set(input.roles)] : ['caller'],
      team: input.team,
      name: input.name,
      createdAt: new Date(now),
      expiresAt: input.expiresInMs === undefined ? undefined : new Date(now + input.expiresInMs),
    };
    await this.options.db.query(
      `INSERT INTO gateway_api_keys (id, hash, prefix, owner, team, name, created_at, expires_at, roles)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        record.id,
        hashApiKey(key),
        record.prefix,
        record.owner,
        record.team ?? null,
        record.name ?? null,
        record.createdAt,
        record.expiresAt ?? null,
        record.roles,
      ],
    );
    return { ...record, key };
  }

  /** Keys, newest first, optionally of one owner. */
  async list(owner?: string): Promise<ApiKeyRecord[]> {
    const { rows } = await this.options.db.query<Row>(
      `SELECT * FROM gateway_api_keys ${owner ? 'WHERE owner = $1' : ''} ORDER BY created_at DESC, id DESC LIMIT 1000`,
      owner ? [owner] : [],
    );
    return rows.map(toRecord);
  }

  /** Revokes a key (idempotent); 404 `api_key_not_found` for an unknown id. */
  async revoke(id: string): Promise<ApiKeyRecord> {
    const { rows } = await this.options.db.query<Row>(
      `UPDATE gateway_api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING *`,
      [id, new Date(this.options.clock.now())],
    );
    if (rows.length === 0) throw notFound('api_key_not_found', `no API key with id ${id}`);
    this.cache.delete(rows[0].hash);
    return toRecord(rows[0]);
  }

  /** The record of `key` (revoked and expired ones included, so callers can say which), or null. */
  async find(key: string): Promise<ApiKeyRecord | null> {
    const hash = hashApiKey(key);
    const cached = this.cachedByHash(hash);
    if (cached !== undefined) return cached;
    return this.lookUp(hash);
  }

  /** The record from the cache while it is fresh (null: known not to exist); undefined when not cached. */
  cached(key: string): ApiKeyRecord | null | undefined {
    return this.cachedByHash(hashApiKey(key));
  }

  private cachedByHash(hash: string): ApiKeyRecord | null | undefined {
    const cached = this.cache.get(hash);
    if (!cached || this.options.clock.now() - cached.at >= this.options.cacheTtlMs) return undefined;
    this.cacheHits?.inc();
    return cached.record;
  }

  private async lookUp(hash: string): Promise<ApiKeyRecord | null> {
    const now = this.options.clock.now();
    this.databaseLookups?.inc();
    let rows: Row[];
    try {
      ({ rows } = await this.options.db.query<Row>('SELECT * FROM gateway_api_keys WHERE hash = $1', [hash]));
    } catch (error) {
      return this.staleOr(hash, now, error);
    }
    const digest = Buffer.from(hash, 'hex');
    // The index found the row by hash; confirming it in constant time keeps the comparison itself
    // from leaking anything, whatever the database's string comparison does.
    const row = rows.find((r) => timingSafeEqual(Buffer.from(r.hash, 'hex'), digest));
    const record = row ? toRecord(row) : null;
    this.remember(hash, { at: now, record });
    return record;
  }

  /** The cached answer while it is within the stale-if-error window and the database is unreachable. */
  private staleOr(hash: string, now: number, error: unknown): ApiKeyRecord | null {
    const cached = this.cache.get(hash);
    const unreachable = (error as { status?: number }).status === 503;
    const window = this.options.cacheTtlMs + (this.options.staleIfErrorMs ?? 0);
    if (!unreachable || !cached || now - cached.at >= window) throw error;
    this.staleAnswers?.inc();
    return cached.record;
  }

  private remember(hash: string, entry: CacheEntry): void {
    this.cache.delete(hash);
    this.cache.set(hash, entry);
    if (this.cache.size > this.options.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
  }
}

function toRecord(row: Row): ApiKeyRecord {
  return {
    id: row.id,
    prefix: row.prefix,
    owner: row.owner,
    roles: rolesOf(row.roles),
    team: row.team ?? undefined,
    name: row.name ?? undefined,
    createdAt: row.created_at,
    expiresAt: row.expires_at ?? undefined,
    revokedAt: row.revoked_at ?? undefined,
  };
}

// Names the platform does not know (a newer version's, say) are dropped, never widened.
function rolesOf(stored: string[] | null): Role[] {
  const roles = (stored ?? []).filter((r): r is Role => (ROLES as readonly string[]).includes(r));
  return roles.length > 0 ? roles : ['caller'];
}
