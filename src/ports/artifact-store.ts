/**
 * The ArtifactStore port: model files, dataset contents and run outputs, addressed by a
 * key like `models/iris/3/model.onnx`. URIs it returns (`artifact://<key>`) are what the
 * registry records. Adapters: a local directory (embedded); a shared volume is the same
 * adapter on a mounted path; S3-compatible later.
 */
export interface ArtifactStore {
  /** Writes (replacing) the artifact at `key`; returns its URI. */
  put(key: string, data: Uint8Array | string): Promise<string>;
  /** Reads an artifact by URI or key; throws a 404 AimeshError when absent. */
  get(uriOrKey: string): Promise<Uint8Array>;
  exists(uriOrKey: string): Promise<boolean>;
  /** Keys under a prefix, sorted. */
  list(prefix: string): Promise<string[]>;
  delete(uriOrKey: string): Promise<void>;
  /** The URI for a key, without touching storage. */
  uri(key: string): string;
}
