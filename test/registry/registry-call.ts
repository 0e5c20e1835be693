import { request } from 'undici';
import { onBehalfHeaders } from '../support/aimesh.js';

/** Calls the registry over HTTP as operator `ana` (through a service, as the gateway forwards her): strings and bytes go as text/csv, anything else as JSON. */
export async function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const isRaw = typeof body === 'string' || body instanceof Uint8Array;
  const response = await request(`${base}${path}`, {
    method: method as 'GET',
    headers: {
      ...onBehalfHeaders('ana', ['operator']),
      ...(body === undefined ? {} : { 'content-type': isRaw ? 'text/csv' : 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : isRaw ? (body as string | Uint8Array) : JSON.stringify(body),
  });
  const text = await response.body.text();
  // biome-ignore lint/suspicious/noExplicitAny: test responses are inspected field by field
  return { status: response.statusCode, body: (text ? JSON.parse(text) : undefined) as any };
}
