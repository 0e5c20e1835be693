import type { Clock } from '../kernel/clock.js';
import { badRequest } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import type { Logger } from '../kernel/logger.js';
import type { EventBus, Subscription } from '../ports/event-bus.js';
import type { DiscoveryApi, Registration, ServiceInstance } from './api.js';
import type { DiscoveryConfig } from './config.js';
import type { InstanceStore } from './instance-store.js';

/** What travels on the discovery subject: a registration or update, a renewal, or a removal. */
type ChangeMessage =
  | { op: 'upsert'; instance: ServiceInstance }
  | { op: 'heartbeat'; id: string; service: string; at: number }
  | { op: 'remove'; id: string; service: string };

interface Known {
  instance: ServiceInstance;
  expiresAt: number;
}

type Listener = (instances: ServiceInstance[]) => void;

/** A registration this process made and keeps alive. */
interface Own {
  timer: NodeJS.Timeout;
  /** The latest registration (metadata updates included): what a re-registration writes back. */
  instance: ServiceInstance;
  /** False from a heartbeat that failed or found the row gone until the row is back. */
  registered: boolean;
}

const EMPTY: ServiceInstance[] = Object.freeze([]) as unknown as ServiceInstance[];
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface ServiceDirectoryOptions {
  store: InstanceStore;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  config: DiscoveryConfig;
}

/** Checks a registration's input; throws 400 with the field at fault. */
export function validateRegistration(input: { service: string; url: string; ttlMs?: number }): void {
  if (!/^[a-z0-9][a-z0-9._-]{0,127}$/.test(input.service)) {
    throw badRequest(
      'invalid_service',
      `service name ${JSON.stringify(input.service)} must be lower-case [a-z0-9._-], 1-128 chars`,
    );
  }
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    throw badRequest('invalid_url', `instance url ${JSON.stringify(input.url)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw badRequest('invalid_url', `instance url must be http(s), got ${url.protocol}`);
  }
  if (
    input.ttlMs !== undefined &&
    (!Number.isInteger(input.ttlMs) || input.ttlMs < 100 || input.ttlMs > 3_600_000)
  ) {
    throw badRequest('invalid_ttl', `ttlMs must be an integer between 100 and 3600000, got ${input.ttlMs}`);
  }
}

/**
 * The local view of every live instance, kept current three ways: writes through the shared
 * database (the truth, so processes started with different targets agree), live fan-out on the
 * bus (changes reach every watcher within one heartbeat), and a periodic re-read (so a missed
 * bus message heals). Reads (`instances`) are cached arrays: no I/O, no allocation.
 */
export class ServiceDirectory implements DiscoveryApi {
  private readonly known = new Map<string, Known>();
  private readonly snapshots = new Map<string, ServiceInstance[]>();
  private readonly watchers = new Map<string, Set<Listener>>();
  private readonly local = new Map<string, Own>();
  private readonly timers: NodeJS.Timeout[] = [];
  private subscription?: Subscription;
  private refreshes = 0;
  private refreshing: Promise<void> | undefined;
  private publishFailed = false;
  private readonly options: ServiceDirectoryOptions;

  constructor(options: ServiceDirectoryOptions) {
    this.options = options;
  }

  /** Loads the current instances, subscribes to changes and starts the refresh and sweep timers. */
  async start(): Promise<void> {
    const { bus, config } = this.options;
    this.subscription = await bus.subscribe(config.subject, (message) => {
      try {
        this.apply(JSON.parse(decoder.decode(message.data)) as ChangeMessage);
      } catch (error) {
        this.options.logger.warn({ err: error }, 'discovery: ignored a malformed change message');
      }
    });
    await this.refresh();
    const every = (ms: number, fn: () => unknown) => {
      const timer = setInterval(fn, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(config.refreshIntervalMs, () =>
      this.refresh().catch((error) => this.options.logger.warn({ err: error }, 'discovery: refresh failed')),
    );
    every(config.sweepIntervalMs, () => this.sweep());
  }

  /** Deregisters this process's instances (so callers stop at once) and stops listening. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    await Promise.all([...this.local.keys()].map((id) => this.deregister(id).catch(() => {})));
    await this.subscription?.close();
  }

  async register(input: {
    service: string;
    url: string;
    metadata?: Record<string, unknown>;
    ttlMs?: number;
  }): Promise<Registration> {
    const instance = await this.registerOnce(input);
    const { id } = instance;
    const interval = Math.max(50, Math.floor(instance.ttlMs * this.options.config.heartbeatFraction));
    const timer = setInterval(() => {
      this.renew(id).catch((error) => {
        const own = this.local.get(id);
        if (own) own.registered = false;
        this.options.logger.warn({ err: error, id }, 'discovery: heartbeat failed');
      });
    }, interval);
    timer.unref();
    this.local.set(id, { timer, instance, registered: true });
    const self = this;
    return {
      get instance() {
        return self.known.get(id)?.instance ?? self.local.get(id)?.instance ?? instance;
      },
      async update(metadata) {
        const current = self.known.get(id)?.instance ?? self.local.get(id)?.instance ?? instance;
        const next = {
          ...current,
          metadata,
          lastHeartbeatAt: new Date(self.options.clock.now()).toISOString(),
        };
        const own = self.local.get(id);
        if (own) own.instance = next;
        await self.options.store.upsert(next);
        await self.announce({ op: 'upsert', instance: next });
      },
      async deregister() {
        await self.deregister(id);
      },
    };
  }

  /** Stores a registration without starting heartbeats (the HTTP API: the caller heartbeats). */
  async registerOnce(input: {
    service: string;
    url: string;
    metadata?: Record<string, unknown>;
    ttlMs?: number;
  }): Promise<ServiceInstance> {
    validateRegistration(input);
    const now = new Date(this.options.clock.now()).toISOString();
    const instance: ServiceInstance = {
      id: newId(this.options.clock.now()),
      service: input.service,
      url: input.url.replace(/\/$/, ''),
      metadata: input.metadata ?? {},
      registeredAt: now,
      lastHeartbeatAt: now,
      ttlMs: input.ttlMs ?? this.options.config.defaultTtlMs,
    };
    await this.options.store.upsert(instance);
    await this.announce({ op: 'upsert', instance });
    return instance;
  }

  /** Renews an instance's TTL; undefined when it has expired or was removed. */
  async heartbeat(id: string): Promise<ServiceInstance | undefined> {
    const at = this.options.clock.now();
    const instance = await this.options.store.heartbeat(id, at);
    if (instance) await this.announce({ op: 'heartbeat', id, service: instance.service, at });
    return instance;
  }

  /** Removes an instance everywhere and, when this process owns it, stops its heartbeats; true when it existed. */
  async deregister(id: string): Promise<boolean> {
    const own = this.local.get(id);
    if (own) clearInterval(own.timer);
    this.local.delete(id);
    return this.remove(id);
  }

  /**
   * Removes a registration (the HTTP API). A live owner re-registers it with its next heartbeat,
   * as a Eureka client does on a 404: a removal clears a stale or foreign entry, it cannot take
   * a running process out of service.
   */
  async remove(id: string): Promise<boolean> {
    const own = this.local.get(id);
    if (own) own.registered = false;
    const service = this.known.get(id)?.instance.service ?? (await this.options.store.get(id))?.service;
    const existed = await this.options.store.remove(id);
    if (service) await this.announce({ op: 'remove', id, service });
    return existed;
  }

  instances(service: string): ServiceInstance[] {
    return this.snapshots.get(service) ?? EMPTY;
  }

  /** Every live instance in the local view, optionally of one service (for the admin API). */
  list(service?: string): ServiceInstance[] {
    if (service) return this.instances(service);
    return [...this.snapshots.values()].flat();
  }

  watch(service: string, listener: Listener): () => void {
    let set = this.watchers.get(service);
    if (!set) {
      set = new Set();
      this.watchers.set(service, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Re-reads the live instances from the database and reconciles the local view (one re-read at a time). */
  refresh(): Promise<void> {
    this.refreshing ??= this.reread().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /** Live instances per service in the local view (for the metrics gauge). */
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [service, list] of this.snapshots) out.set(service, list.length);
    return out;
  }

  private async reread(): Promise<void> {
    const now = this.options.clock.now();
    const rows = await this.options.store.live(now, this.options.config.maxInstances);
    const seen = new Set<string>();
    const changed = new Set<string>();
    for (const instance of rows) {
      seen.add(instance.id);
      if (this.put(instance)) changed.add(instance.service);
    }
    for (const [id, known] of this.known) {
      if (!seen.has(id)) {
        this.known.delete(id);
        changed.add(known.instance.service);
      }
    }
    for (const service of changed) this.publishLocally(service);
    // Expired rows are dropped now and then by whichever process refreshes; reads ignore them anyway.
    if (++this.refreshes % 10 === 0) await this.options.store.purgeExpired(now);
  }

  /** Drops instances whose TTL has passed from the local view and tells their watchers. */
  sweep(): void {
    const now = this.options.clock.now();
    const changed = new Set<string>();
    for (const [id, known] of this.known) {
      if (known.expiresAt <= now) {
        this.known.delete(id);
        changed.add(known.instance.service);
      }
    }
    for (const service of changed) this.publishLocally(service);
  }

  /** This process's registrations that are not in the directory now (for readiness). */
  unregistered(): ServiceInstance[] {
    return [...this.local.values()].filter((own) => !own.registered).map((own) => own.instance);
  }

  private async renew(id: string): Promise<void> {
    const renewed = await this.heartbeat(id);
    const own = this.local.get(id);
    if (!own) return;
    if (renewed) {
      own.registered = true;
      return;
    }
    // The heartbeat found no row (removed, or expired while the database was unreachable):
    // register again under the same id, with the latest metadata.
    own.registered = false;
    const current = { ...own.instance, lastHeartbeatAt: new Date(this.options.clock.now()).toISOString() };
    await this.options.store.upsert(current);
    await this.announce({ op: 'upsert', instance: current });
    own.instance = current;
    own.registered = true;
    this.options.logger.info(
      { id, service: current.service },
      'discovery: registration was gone; registered again',
    );
  }

  private async announce(message: ChangeMessage): Promise<void> {
    this.apply(message);
    try {
      await this.options.bus.publish(this.options.config.subject, encoder.encode(JSON.stringify(message)));
      this.publishFailed = false;
    } catch (error) {
      // The periodic refresh still spreads the change; the bus only makes it fast. Logged once
      // per outage rather than once per heartbeat.
      if (!this.publishFailed) {
        this.options.logger.warn(
          { err: error },
          'discovery: could not publish a change; peers see it on refresh',
        );
      }
      this.publishFailed = true;
    }
  }

  private apply(message: ChangeMessage): void {
    switch (message.op) {
      case 'upsert':
        if (this.put(message.instance)) this.publishLocally(message.instance.service);
        return;
      case 'heartbeat': {
        const known = this.known.get(message.id);
        if (!known) {
          // A heartbeat for an instance we never saw: fetch it on the next refresh.
          void this.refresh().catch(() => {});
          return;
        }
        const lastHeartbeatAt = new Date(message.at).toISOString();
        known.instance = { ...known.instance, lastHeartbeatAt };
        known.expiresAt = message.at + known.instance.ttlMs;
        return;
      }
      case 'remove':
        if (this.known.delete(message.id)) this.publishLocally(message.service);
        return;
    }
  }

  /** Adds or replaces an instance; true when the service's visible set changed. */
  private put(instance: ServiceInstance): boolean {
    const expiresAt = Date.parse(instance.lastHeartbeatAt) + instance.ttlMs;
    if (expiresAt <= this.options.clock.now()) return false;
    const previous = this.known.get(instance.id);
    if (!previous && this.known.size >= this.options.config.maxInstances) {
      this.options.logger.warn({ id: instance.id }, 'discovery: local view is full; instance ignored');
      return false;
    }
    this.known.set(instance.id, { instance, expiresAt });
    return (
      !previous ||
      previous.instance.url !== instance.url ||
      JSON.stringify(previous.instance.metadata) !== JSON.stringify(instance.metadata)
    );
  }

  private publishLocally(service: string): void {
    const list: ServiceInstance[] = [];
    for (const known of this.known.values())
      if (known.instance.service === service) list.push(known.instance);
    if (list.length === 0) this.snapshots.delete(service);
    else this.snapshots.set(service, list);
    const listeners = this.watchers.get(service);
    if (!listeners) return;
    for (const listener of listeners) {
      try {
        listener(list);
      } catch (error) {
        this.options.logger.warn({ err: error, service }, 'discovery: a watcher threw');
      }
    }
  }
}
