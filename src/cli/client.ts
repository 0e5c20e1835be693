import { userInfo } from 'node:os';
import { request } from 'undici';
import { AimeshError } from '../kernel/errors.js';
import { ServerRefusal } from './cli-errors.js';

export interface ClientOptions {
  /** Base URL of a running aimesh (default AIMESH_URL or http://127.0.0.1:8080). */
  url?: string;
  /** Sent as X-API-Key when set (default AIMESH_API_KEY). */
  apiKey?: string;
  /** Sent as the admin bearer token when set (default AIMESH_ADMIN_TOKEN). */
  adminToken?: string;
}

/**
 * The headers every CLI call carries: the API key, the admin token, and who is acting
 * (`AIMESH_ACTOR`, else the OS user) so the registry records a person rather than `anonymous`.
 */
export function clientHeaders(options: ClientOptions = {}): Record<string, string> {
  const headers: Record<string, string> = {};
  const apiKey = options.apiKey ?? process.env.AIMESH_API_KEY;
  if (apiKey) headers['x-api-key'] = apiKey;
  const adminToken = options.adminToken ?? process.env.AIMESH_ADMIN_TOKEN;
  if (adminToken) headers.authorization = `Bearer ${adminToken}`;
  const actor = process.env.AIMESH_ACTOR ?? safeUserName();
  if (actor) headers['x-aimesh-actor'] = actor;
  return headers;
}

function safeUserName(): string | undefined {
  try {
    return userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

/** Calls a running aimesh's HTTP API and returns the JSON body; errors carry the server's code and message. */
export function callApi<T = unknown>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
  options: ClientOptions = {},
): Promise<T> {
  return send<T>(
    method,
    path,
    body === undefined ? undefined : { data: JSON.stringify(body), contentType: 'application/json' },
    options,
  );
}

/** Sends raw bytes (a CSV, a model file) as the body; the answer and errors are as for callApi. */
export function sendBytes<T = unknown>(
  method: 'POST' | 'PUT',
  path: string,
  data: Uint8Array,
  contentType: string,
  options: ClientOptions = {},
): Promise<T> {
  return send<T>(method, path, { data, contentType }, options);
}

async function send<T>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body: { data: string | Uint8Array; contentType: string } | undefined,
  options: ClientOptions,
): Promise<T> {
  const base = options.url ?? process.env.AIMESH_URL ?? 'http://127.0.0.1:8080';
  const headers = clientHeaders(options);
  if (body) headers['content-type'] = body.contentType;
  const target = new URL(path, base); // a malformed base is the caller's to fix, not unreachable
  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(target, { method, headers, body: body?.data });
  } catch (error) {
    throw new AimeshError(
      'unreachable',
      503,
      `cannot reach aimesh at ${base}: ${(error as Error).message}; is it running? (--url or AIMESH_URL names another)`,
    );
  }
  const text = await response.body.text();
  const json = text ? safeJson(text) : undefined;
  if (response.statusCode >= 400) {
    const err = (json as { error?: { code?: string; message?: string } | string })?.error;
    const code = typeof err === 'object' ? (err.code ?? 'error') : 'error';
    const message = typeof err === 'object' ? (err.message ?? text) : (err ?? text);
    throw new ServerRefusal(code, response.statusCode, message);
  }
  return json as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
