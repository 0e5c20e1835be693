import { userInfo } from 'node:os';
import { request } from 'undici';
import { isLoopbackHost, readTokenFile } from '../app/token-file.js';
import { loadConfig } from '../kernel/config.js';
import { AimeshError } from '../kernel/errors.js';
import { ServerRefusal } from './cli-errors.js';

const DEFAULT_ADMIN_TOKEN_FILE = './data/admin-token';

export interface ClientOptions {
  /** Base URL of a running aimesh (default AIMESH_URL or http://127.0.0.1:8080). */
  url?: string;
  /** Sent as X-API-Key when set (default AIMESH_API_KEY). */
  apiKey?: string;
  /** Sent as the admin bearer token when set (default AIMESH_ADMIN_TOKEN). */
  adminToken?: string;
}

/** The aimesh a command talks to: `options.url`, else AIMESH_URL, else the local default. */
export function baseUrl(options: ClientOptions = {}): string {
  return options.url ?? process.env.AIMESH_URL ?? 'http://127.0.0.1:8080';
}

/**
 * The headers every CLI call carries: the API key, the admin token, and who is acting
 * (`AIMESH_ACTOR`, else the OS user; the server records it only from a service principal).
 * Given neither a key nor a token, a call to an aimesh on this host (a loopback URL) carries the
 * admin token `aimesh start` generated (`server.adminTokenFile`), so the local start needs no
 * setup; a key or a token given explicitly is the only credential sent.
 */
export function clientHeaders(options: ClientOptions = {}): Record<string, string> {
  const headers: Record<string, string> = {};
  // An empty variable counts as unset (`AIMESH_API_KEY= aimesh ...`).
  const apiKey = options.apiKey || process.env.AIMESH_API_KEY || undefined;
  if (apiKey) headers['x-api-key'] = apiKey;
  const adminToken =
    options.adminToken ||
    process.env.AIMESH_ADMIN_TOKEN ||
    (apiKey ? undefined : localAdminToken(baseUrl(options)));
  if (adminToken) headers.authorization = `Bearer ${adminToken}`;
  const actor = process.env.AIMESH_ACTOR ?? safeUserName();
  if (actor) headers['x-aimesh-actor'] = actor;
  return headers;
}

/**
 * The token in the admin token file `aimesh start` uses (`server.adminTokenFile` of the config
 * in this directory, as the server reads it), when `base` names this host; else undefined.
 */
function localAdminToken(base: string): string | undefined {
  let host: string;
  try {
    host = new URL(base).hostname;
  } catch {
    return undefined; // a malformed URL is reported where it is used
  }
  if (!isLoopbackHost(host)) return undefined;
  let file = DEFAULT_ADMIN_TOKEN_FILE;
  try {
    file = loadConfig().server.adminTokenFile;
  } catch {
    // A config the CLI cannot read is the server's to report; the default file still applies.
  }
  try {
    return readTokenFile(file);
  } catch {
    return undefined; // unreadable: the call goes without, and the server's 401 says what is missing
  }
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
  const base = baseUrl(options);
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
