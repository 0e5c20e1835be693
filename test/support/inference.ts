import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { RunningAimesh } from '../../src/app/runtime.js';
import { adminHeaders, startTestAimesh } from './aimesh.js';

/** A running aimesh with only the inference module (and its deps), serving `modelsDir`. */
export async function startInference(
  inference: Record<string, unknown>,
): Promise<{ aimesh: RunningAimesh; url: string }> {
  const aimesh = await startTestAimesh({
    targets: ['inference'],
    config: { inference: { server: { port: 0 }, ...inference } },
  });
  const status = await call(aimesh.url, 'GET', '/api/v1/inference/models');
  return { aimesh, url: (status.body as { url: string }).url };
}

/** A fresh temporary models directory. */
export function tempModelsDir(): string {
  return mkdtempSync(join(tmpdir(), 'aimesh-models-'));
}

/** One JSON call as the admin; returns status, headers and parsed body. */
export async function call(base: string, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) {
  const response = await request(new URL(path, base), {
    method,
    // The admin may call every route; the V2 data plane needs no credentials at all.
    headers: body === undefined ? adminHeaders() : { ...adminHeaders(), 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.body.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return {
    status: response.statusCode,
    headers: response.headers,
    body: parsed as Record<string, unknown> & unknown,
  };
}
