import type { FastifyRequest } from 'fastify';

/**
 * Who is acting: the authenticated principal (a service acting on someone's behalf has already
 * been resolved to that one by the access guard; `X-Aimesh-Actor` from anyone else is ignored).
 * Recorded as the creator of things and in every registry event.
 */
export function actorOf(request: FastifyRequest): string {
  return request.principal?.id ?? 'anonymous';
}
