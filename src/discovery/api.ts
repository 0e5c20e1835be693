/** One running instance of a service, as discovery knows it. */
export interface ServiceInstance {
  id: string;
  /** Service name, e.g. `model-inference`. */
  service: string;
  /** Base URL, e.g. `http://127.0.0.1:8081`. */
  url: string;
  /** Free-form: `models` ([{ id, version }]), `zone`, ... */
  metadata: Record<string, unknown>;
  registeredAt: string;
  lastHeartbeatAt: string;
  ttlMs: number;
}

/** A live registration: heartbeats run until `deregister`. */
export interface Registration {
  readonly instance: ServiceInstance;
  /** Replaces the metadata (e.g. after a model version loads) and tells watchers. */
  update(metadata: Record<string, unknown>): Promise<void>;
  /** Removes the instance at once and stops heartbeats. */
  deregister(): Promise<void>;
}

/**
 * The discovery module's API: instances register under a service name with a TTL kept alive
 * by heartbeats; the rest of the process finds live instances by name and watches changes.
 */
export interface DiscoveryApi {
  register(input: {
    service: string;
    url: string;
    metadata?: Record<string, unknown>;
    ttlMs?: number;
  }): Promise<Registration>;
  /** Live (unexpired) instances of a service, from the local view (no I/O). */
  instances(service: string): ServiceInstance[];
  /** Calls `listener` with the service's live instances whenever they change; returns an unsubscribe. */
  watch(service: string, listener: (instances: ServiceInstance[]) => void): () => void;
}
