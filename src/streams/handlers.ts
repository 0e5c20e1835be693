import { Histogram, type Registry } from 'prom-client';
import type { RegistryApi } from '../registry/index.js';
import type { EventHandler } from './consumer-group.js';

const SOURCE = '/aimesh/streams';

export interface InferenceHandlerOptions {
  metrics?: Registry;
  /** Latency above which ai.alert.raised is appended. */
  latencyAlertMs: number;
}

/**
 * Inference completed: its metrics stored and observed, a follow-up `ai.inference.metrics`
 * caused by it, and `ai.alert.raised` when it was slower than the threshold.
 */
export function inferenceCompletedHandler(o: InferenceHandlerOptions): EventHandler {
  const histogram =
    o.metrics &&
    ((o.metrics.getSingleMetric('aimesh_handled_inference_latency_ms') as Histogram | undefined) ??
      new Histogram({
        name: 'aimesh_handled_inference_latency_ms',
        help: 'Latency of inference-completed events as the ai-system handlers saw them.',
        labelNames: ['model'],
        buckets: [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000],
        registers: [o.metrics],
      }));
  return {
    type: 'ai.inference.completed',
    name: 'inference-metrics',
    async handle(event, ctx) {
      const modelId = String(event.data.modelId ?? 'unknown');
      const latencyMs = Number(event.data.latencyMs ?? event.data.latency);
      if (!Number.isFinite(latencyMs)) throw new Error('ai.inference.completed without a numeric latencyMs');
      await ctx.tx.query(
        `INSERT INTO aimesh_stream_inference_metrics (event_id, model_id, latency_ms, at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
        [event.id, modelId, latencyMs, event.time],
      );
      const follow = {
        source: SOURCE,
        causationid: event.id,
        correlationid: event.correlationid ?? event.id,
      };
      ctx.emit({
        ...follow,
        type: 'ai.inference.metrics',
        data: { modelId, latencyMs, ...(event.data.userId ? { userId: event.data.userId } : {}) },
      });
      if (latencyMs > o.latencyAlertMs) {
        ctx.emit({
          ...follow,
          type: 'ai.alert.raised',
          data: {
            alert: 'high_latency',
            severity: 'warning',
            message: `${modelId} answered in ${latencyMs} ms (threshold ${o.latencyAlertMs} ms)`,
            modelId,
            latencyMs,
            thresholdMs: o.latencyAlertMs,
          },
        });
      }
      ctx.afterCommit(() => histogram?.observe({ model: modelId }, latencyMs));
    },
  };
}

/** Training started: its metrics row, the resources set aside for it, and a notification. */
export function trainingStartedHandler(): EventHandler {
  return {
    type: 'ai.training.started',
    name: 'training-started',
    async handle(event, ctx) {
      const executionId = String(event.data.executionId);
      const resources = {
        cpu: Number(event.data.cpu ?? 1),
        memoryMb: Number(event.data.memoryMb ?? 512),
        gpu: Number(event.data.gpu ?? 0),
      };
      await ctx.tx.query(
        `INSERT INTO aimesh_stream_training (execution_id, event_id, started_at, resources)
         VALUES ($1, $2, $3, $4) ON CONFLICT (execution_id) DO NOTHING`,
        [executionId, event.id, event.time, JSON.stringify(resources)],
      );
      ctx.emit({
        source: SOURCE,
        type: 'ai.alert.raised',
        causationid: event.id,
        correlationid: event.correlationid ?? event.id,
        data: {
          alert: 'training_started',
          severity: 'info',
          message: `training ${executionId} started`,
          executionId,
          resources,
        },
      });
    },
  };
}

export interface AutoDeployOptions {
  registry?: RegistryApi;
  enabled: boolean;
  minAccuracy: number;
  minImprovement: number;
  alias: string;
}

interface Decision {
  model: string;
  version: number;
  accuracy: number;
  improvement: number | null;
  promoted: boolean;
  reason: string;
}

/**
 * Evaluation completed: its metrics recorded on the model version through the registry, then the
 * evaluation recorded with the auto-deploy decision. A version better than the alias
 * holder by more than `minImprovement` and above `minAccuracy` is promoted through the registry,
 * so its promotion rules apply and it appends `ai.model.promoted` (which the model server follows).
 */
export function evaluationCompletedHandler(o: AutoDeployOptions): EventHandler<Decision> {
  return {
    type: 'ai.evaluation.completed',
    name: 'auto-deploy',
    async prepare(event) {
      const model = String(event.data.model);
      const version = Number(event.data.version);
      const accuracy = Number(event.data.accuracy);
      const decision: Decision = { model, version, accuracy, improvement: null, promoted: false, reason: '' };
      if (o.registry) {
        // The version's metrics become the evaluation's before anything is decided, so the
        // registry's promotion rules judge what was measured, not what was registered.
        try {
          await o.registry.recordVersionMetrics(
            model,
            version,
            evaluationMetrics(accuracy, event.data.metrics),
          );
        } catch (error) {
          const status = (error as { status?: number }).status;
          if (status === undefined || status >= 500) throw error;
          decision.reason = `the registry refused the metrics: ${(error as Error).message}`;
          return decision;
        }
      }
      let holder: number | undefined;
      if (o.registry) {
        holder = await o.registry
          .getModelVersion(model, o.alias)
          .then((v) => (v.version === version ? undefined : v.metrics.accuracy))
          .catch(() => undefined);
      }
      const given = Number(event.data.improvement);
      decision.improvement = Number.isFinite(given) ? given : holder !== undefined ? accuracy - holder : null;
      if (!o.enabled || !o.registry) {
        decision.reason = 'auto-deploy is disabled in this process';
      } else if (!(accuracy > o.minAccuracy)) {
        decision.reason = `accuracy ${accuracy} is not above ${o.minAccuracy}`;
      } else if (decision.improvement !== null && !(decision.improvement > o.minImprovement)) {
        decision.reason = `improvement ${round(decision.improvement)} over ${o.alias} is not above ${o.minImprovement}`;
      } else {
        try {
          const result = await o.registry.promote({
            model,
            version,
            alias: o.alias,
            actor: 'auto-deploy',
            causationId: event.id,
          });
          decision.promoted = true;
          decision.reason = result.changed
            ? `promoted to ${o.alias} (was ${result.previousVersion ?? 'none'})`
            : `already ${o.alias}`;
        } catch (error) {
          // The registry's own rules refused it (422): recorded, not retried.
          const status = (error as { status?: number }).status;
          if (status === undefined || status >= 500) throw error;
          decision.reason = `the registry refused: ${(error as Error).message}`;
        }
      }
      return decision;
    },
    async handle(event, ctx) {
      const d = ctx.prepared;
      await ctx.tx.query(
        `INSERT INTO aimesh_stream_evaluations (event_id, model, version, accuracy, improvement, promoted, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [event.id, d.model, d.version, d.accuracy, d.improvement, d.promoted, d.reason],
      );
    },
  };
}

/** Accuracy and every finite number of the event's `metrics` object. */
function evaluationMetrics(accuracy: number, extra: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (typeof extra === 'object' && extra !== null) {
    for (const [key, value] of Object.entries(extra)) {
      if (typeof value === 'number' && Number.isFinite(value)) out[key] = value;
    }
  }
  if (Number.isFinite(accuracy)) out.accuracy = accuracy;
  return out;
}

function round(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
