import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { hasRole, type Principal, readsAnyones, role } from '../kernel/access.js';
import { badRequest, forbidden } from '../kernel/errors.js';
import { SafeInteger } from '../kernel/input-schemas.js';
import type { EventLog, NewEvent } from '../ports/event-log.js';
import type { LiveStream } from './live-stream.js';

const EventQuerystring = Type.Object({
  from: Type.Optional(Type.String({ description: 'RFC 3339 time, inclusive.' })),
  to: Type.Optional(Type.String({ description: 'RFC 3339 time, inclusive.' })),
  type: Type.Optional(Type.String()),
  correlationId: Type.Optional(Type.String()),
  causationId: Type.Optional(Type.String()),
  actor: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 200,
      description:
        "Only events this principal acted in (data.actor or data.userId); a caller's query is always its own.",
    }),
  ),
  after: Type.Optional(SafeInteger({ minimum: 0, description: 'Store position to read forward from.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 100 })),
});

const AppendBody = Type.Union(
  [
    Type.Object({}, { additionalProperties: true }),
    Type.Array(Type.Object({}, { additionalProperties: true }), { maxItems: 10_000 }),
  ],
  {
    description: 'One CloudEvent (structured JSON) or an array of them.',
  },
);

const StreamQuerystring = Type.Object({
  type: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 256,
      pattern: '^[A-Za-z0-9_.*>-]+$',
      description: 'Only events of this type; `*` matches one dotted part, `>` the rest (ai.inference.*).',
    }),
  ),
});

/** The events HTTP API: append (validated CloudEvents), query, and the live stream. */
export function eventRoutes(store: EventLog, live: LiveStream): FastifyPluginAsync {
  return async (app) => {
    app.get(
      '/stream',
      {
        config: role('operator'),
        schema: {
          tags: ['events'],
          summary: 'Live events as Server-Sent Events (from the bus; nothing replayed)',
          querystring: StreamQuerystring,
        },
      },
      async (request, reply) => {
        const q = request.query as typeof StreamQuerystring.static;
        reply.hijack();
        live.attach(reply.raw, q.type);
      },
    );
    app.post(
      '/',
      {
        config: role('caller'),
        schema: { tags: ['events'], summary: 'Append one event or a batch', body: AppendBody },
      },
      async (request, reply) => {
        const events = requireIdentity(request.body);
        refuseReserved(events, request.principal);
        const results = await store.append(events);
        return reply.status(results.some((r) => !r.duplicate) ? 201 : 200).send({ events: results });
      },
    );
    app.get(
      '/',
      {
        config: role('self'),
        schema: {
          tags: ['events'],
          summary: "Query events (a caller's own; an operator's or a service's, anyone's)",
          querystring: EventQuerystring,
        },
      },
      async (request) => {
        const q = request.query as typeof EventQuerystring.static;
        const actor = actorOfQuery(request.principal!, q.actor);
        const events = await store.query({ ...q, actor, afterPosition: q.after });
        return { events, next: events.length > 0 ? events[events.length - 1].position : null };
      },
    );
  };
}

/**
 * Whose events a query reads: an operator or a service reads anyone's (all, or the `actor`
 * asked for); anyone else only its own, and asking for another's is 403 `not_owner`.
 */
function actorOfQuery(principal: Principal, asked: string | undefined): string | undefined {
  if (readsAnyones(principal)) return asked;
  if (asked !== undefined && asked !== principal.id)
    throw forbidden(
      'not_owner',
      `${principal.id} may read only its own events; reading ${asked}'s needs the operator role`,
    );
  return principal.id;
}

/** The namespace of the events the platform itself emits (`ai.model.*`, `ai.inference.*`, ...). */
export const RESERVED_EVENT_PREFIX = 'ai.';

/**
 * Only platform processes (`service`) and admins may append platform event types: a caller's
 * forged `ai.model.promoted` or `ai.evaluation.completed` could otherwise drive what others act on.
 * Nor may anyone else name another principal as an event's actor, which would put the event
 * among that one's own.
 */
function refuseReserved(body: NewEvent | NewEvent[], principal: Principal | undefined): void {
  if (principal && hasRole(principal, 'service')) return;
  for (const event of Array.isArray(body) ? body : [body]) {
    if (event.type.startsWith(RESERVED_EVENT_PREFIX)) {
      throw forbidden(
        'reserved_event_type',
        `${event.type}: types under "${RESERVED_EVENT_PREFIX}" are emitted by the platform; only a service or admin principal may append them`,
      );
    }
    // The actor an event names decides who reads it back (a caller's query is its own events).
    const data = event.data as Record<string, unknown> | undefined;
    for (const key of ['actor', 'userId'] as const) {
      const named = typeof data === 'object' && data !== null ? data[key] : undefined;
      if (typeof named === 'string' && named !== principal?.id)
        throw forbidden(
          'actor_mismatch',
          `${event.type}: data.${key} names ${named.slice(0, 200)}, but the event is appended by ${principal?.id ?? 'anonymous'}; an event may name only its own principal as the actor`,
        );
    }
  }
}

/**
 * Over HTTP an event must name itself (CloudEvents requires id, type and source): a client
 * that retries then re-sends the same id, and the store's de-duplication makes it safe.
 */
function requireIdentity(body: unknown): NewEvent | NewEvent[] {
  const events = Array.isArray(body) ? body : [body];
  events.forEach((event, i) => {
    const where = Array.isArray(body) ? `event[${i}]` : 'event';
    for (const key of ['id', 'type', 'source'] as const) {
      const value = (event as Record<string, unknown>)[key];
      if (typeof value !== 'string' || value.length === 0) {
        throw badRequest(
          'invalid_event',
          `${where}.${key} must be a non-empty string, got ${value === undefined ? 'nothing' : String(JSON.stringify(value)).slice(0, 80)}`,
        );
      }
    }
  });
  return body as NewEvent | NewEvent[];
}
