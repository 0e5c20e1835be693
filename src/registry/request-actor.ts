import type { FastifyRequest } from 'fastify';

/**
 * Who is acting: the `X-Aimesh-Actor` header (set by the gateway or a CLI user), else
 * `anonymous`. Recorded as the creator of things and in every registry event.
 */
export function actorOf(request: FastifyRequest): string {
  const header = request.headers['x-aimesh-actor'];
  const actor = typeof header === 'string' ? header.trim() : '';
  return actor.length > 0 && actor.length <= 200 ? actor : 'anonymous';
}
