import type { IdSource } from '../../kernel/ids.js';
import type { EventLog } from '../../ports/event-log.js';
import type { GatewayCall } from './gateway-call.js';

/** The event source of every call the gateway records. */
export const GATEWAY_SOURCE = 'aimesh/gateway';

/**
 * Records one call through the gateway, from either front, in one shape: `ai.inference.completed`
 * when it was answered below 400 and its body went through, else `ai.inference.failed` with why.
 * The correlation id is the request id, which the model server records its own
 * `ai.serving.*` event under, so the two join.
 */
export function recordCall(
  events: EventLog,
  ids: IdSource,
  call: GatewayCall,
  upstream: string | undefined,
  error: string | undefined,
): void {
  const choice = call.answer?.choice ?? call.choices?.[0];
  const model = choice?.model;
  const ok = error === undefined && call.status < 400;
  const latencyMs = performance.now() - call.started;
  const upstreamMs = call.answer?.upstreamMs ?? 0;
  // One shape for every outcome (fields undefined where they do not apply): no spread per call.
  const data = {
    front: call.front.name,
    modelId: model?.id ?? targetName(call),
    modelVersion: model?.version || call.servedVersion,
    // The model asked for (or ranked first) when a fallback served the call.
    fallbackFrom: call.answer && call.answer.choiceIndex > 0 ? call.requestedModel : undefined,
    cost: model?.cost,
    latencyMs: round(latencyMs),
    // Timings: the upstream's time to its headers, and the gateway's own share up to them.
    upstreamMs: round(upstreamMs),
    gatewayMs: round(Math.max(0, (call.headersMs || latencyMs) - upstreamMs)),
    userId: call.principal?.id,
    keyId: call.principal?.keyId,
    status: call.status,
    route: call.front.route,
    upstream,
    stream: call.stream || undefined,
    totalTokens: call.totalTokens,
    error: ok ? undefined : (error ?? `upstream answered ${call.status}`),
  };
  events.enqueue({
    // An id from the pooled randomness: the store would otherwise draw fresh bytes per event.
    id: ids.next(),
    type: ok ? 'ai.inference.completed' : 'ai.inference.failed',
    source: GATEWAY_SOURCE,
    correlationid: call.id,
    data,
  });
}

// Hundredths of a millisecond, rounded as numbers (a third cheaper than toFixed, per call).
function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function targetName(call: GatewayCall): string {
  const target = call.choices?.[0]?.target;
  if (!target) return call.front.route;
  return target.kind === 'service' ? target.service : target.name;
}
