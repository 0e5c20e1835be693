import type { Clock } from '../kernel/clock.js';
import { AimeshError, badRequest, isAimeshError } from '../kernel/errors.js';
import type { EventLog } from '../ports/event-log.js';
import type { Tensor, TensorSpec } from '../ports/model-runtime.js';
import type { InferenceMetrics } from './inference-metrics.js';
import type { ModelManager } from './model-manager.js';
import type { ResultCache } from './result-cache.js';
import { checkAgainstSpec, decodeTensor, type JsonTensor } from './tensor-codec.js';

/** One inference request, already routed to a model name. */
export interface InferenceRequest {
  model: string;
  /** Version number or alias; absent → canary draw or the default version. */
  version?: string;
  inputs: JsonTensor[];
  /** Plain (nested) values for the model's first input instead of `inputs`: one row, rows, or strings. */
  values?: unknown[];
  /** Names of the outputs wanted; absent → all. */
  outputs?: string[];
  requestId?: string;
}

/** The answer to one request. */
export interface InferenceResponse {
  model: string;
  version: number;
  outputs: Tensor[];
  batchSize: number;
  queueWaitMs: number;
  latencyMs: number;
  cached: boolean;
}

const SOURCE = 'aimesh/inference';
const UNRESOLVED = '(unresolved)';

/**
 * Runs requests: resolves the version, checks the inputs against its metadata, consults the
 * result cache, queues into the version's batcher, and records metrics and events.
 */
export class InferenceService {
  private draining = false;

  constructor(
    private readonly models: ModelManager,
    private readonly cache: ResultCache,
    private readonly metrics: InferenceMetrics,
    private readonly events: EventLog,
    private readonly clock: Clock,
  ) {}

  /** Refuse new work from now on (graceful stop). */
  drain(): void {
    this.draining = true;
  }

  /** True once `drain` was called. */
  get isDraining(): boolean {
    return this.draining;
  }

  async infer(request: InferenceRequest): Promise<InferenceResponse> {
    const started = this.clock.now();
    // Metric labels name only loaded versions: request-supplied names would grow them without bound.
    let label = { model: UNRESOLVED, version: UNRESOLVED };
    try {
      if (this.draining)
        throw new AimeshError(
          'shutting_down',
          503,
          'this inference server is shutting down; retry on another instance',
          { retryAfterSeconds: 1 },
        );
      // Resolving, checking and queueing happen in one synchronous step: a version being
      // unloaded leaves the routing table first, and whatever reached its queue is drained.
      const target = this.models.resolve(request.model, request.version);
      label = { model: target.model, version: String(target.version) };
      const inputs = this.prepare(
        request.values === undefined
          ? request.inputs
          : [plainTensor(request.values, target.loaded.inputs[0])],
        target.loaded.inputs,
      );
      checkOutputNames(request.outputs, target.loaded.outputs);
      const rows = inputs[0]?.shape[0] ?? 1;
      const key = this.cache.enabled ? this.cache.key(target.model, target.version, inputs) : undefined;
      const hit = key ? this.cache.get(key) : undefined;
      const result = hit
        ? { outputs: hit, batchSize: 0, queueWaitMs: 0 }
        : await target.batcher.submit(inputs, rows);
      if (key && !hit) this.cache.set(key, result.outputs);
      const outputs = selectOutputs(result.outputs, request.outputs);
      const latencyMs = this.clock.now() - started;
      this.metrics.requests.labels(label.model, label.version, 'ok').inc();
      this.metrics.latency.labels(label.model, label.version).observe(latencyMs / 1000);
      this.events.enqueue({
        type: 'ai.serving.completed',
        source: SOURCE,
        // The X-Request-Id the gateway sent: its own ai.inference.* event of the call has the same.
        correlationid: request.requestId,
        data: {
          modelId: target.model,
          modelVersion: String(target.version),
          latencyMs,
          batchSize: result.batchSize,
          queueWaitMs: result.queueWaitMs,
          cached: hit !== undefined,
          requestId: request.requestId,
        },
      });
      return {
        model: target.model,
        version: target.version,
        outputs,
        batchSize: result.batchSize,
        queueWaitMs: result.queueWaitMs,
        latencyMs,
        cached: hit !== undefined,
      };
    } catch (error) {
      const status = isAimeshError(error) ? error.status : 500;
      this.metrics.requests
        .labels(
          label.model,
          label.version,
          status === 503 ? 'rejected' : status < 500 ? 'client_error' : 'error',
        )
        .inc();
      this.events.enqueue({
        type: 'ai.serving.failed',
        source: SOURCE,
        correlationid: request.requestId,
        data: {
          error: (error as Error).message,
          modelId: label.model === UNRESOLVED ? String(request.model).slice(0, 256) : label.model,
          modelVersion: label.version === UNRESOLVED ? request.version?.slice(0, 64) : label.version,
          status,
          requestId: request.requestId,
        },
      });
      throw error;
    }
  }

  private prepare(json: JsonTensor[], specs: TensorSpec[]): Tensor[] {
    if (!Array.isArray(json) || json.length === 0)
      throw badRequest('missing_input', 'inputs must list at least one tensor');
    const byName = new Map<string, Tensor>();
    for (const input of json) {
      if (byName.has(input.name)) throw badRequest('duplicate_input', `input "${input.name}" is given twice`);
      byName.set(input.name, decodeTensor(input));
    }
    const known = new Set(specs.map((s) => s.name));
    for (const name of byName.keys())
      if (!known.has(name))
        throw badRequest(
          'unknown_input',
          `the model has no input "${name}"; inputs: ${[...known].join(', ')}`,
        );
    const ordered = specs.map((spec) => {
      const tensor = byName.get(spec.name);
      if (!tensor) throw badRequest('missing_input', `input "${spec.name}" is required`);
      checkAgainstSpec(tensor, spec);
      return tensor;
    });
    const rows = ordered[0].shape[0];
    if (ordered.some((t) => t.shape[0] !== rows))
      throw badRequest('batch_mismatch', 'all inputs must have the same first (batch) dimension');
    if (rows === 0) throw badRequest('empty_batch', 'the batch dimension must be at least 1');
    return ordered;
  }
}

/** Builds the first input's tensor from plain values; a flat list is one row of a batched input. */
function plainTensor(values: unknown[], spec: TensorSpec | undefined): JsonTensor {
  if (!spec) throw badRequest('missing_input', 'the model declares no inputs');
  if (!Array.isArray(values) || values.length === 0)
    throw badRequest('missing_input', 'inputs must be a non-empty list');
  const shape: number[] = [];
  let node: unknown = values;
  while (Array.isArray(node) && shape.length < 32) {
    shape.push(node.length);
    node = node[0];
  }
  const rowsGiven = shape.length === spec.shape.length;
  const batched = spec.shape[0] === -1;
  return {
    name: spec.name,
    datatype: spec.datatype,
    shape: !rowsGiven && batched ? [1, ...shape] : shape,
    data: values,
  };
}

function checkOutputNames(wanted: string[] | undefined, specs: TensorSpec[]): void {
  for (const name of wanted ?? []) {
    if (!specs.some((s) => s.name === name))
      throw badRequest(
        'unknown_output',
        `the model has no output "${name}"; outputs: ${specs.map((s) => s.name).join(', ')}`,
      );
  }
}

function selectOutputs(outputs: Tensor[], wanted?: string[]): Tensor[] {
  if (!wanted || wanted.length === 0) return outputs;
  return outputs.filter((o) => wanted.includes(o.name));
}
