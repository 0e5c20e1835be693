import { AimeshError } from '../../kernel/errors.js';
import { type UpstreamClient, UpstreamError, type UpstreamResponse } from '../proxy/upstream-client.js';
import type { OpenAiRoute } from './openai-catalogue.js';

/** What one forwarded OpenAI call produced: the response of the step that answered, and which step. */
export interface OpenAiForwardResult {
  response: UpstreamResponse;
  route: OpenAiRoute;
  /** Steps that failed before it, with why. */
  failures: { model: string; reason: string }[];
}

/** A failure that moves on to the next model: no answer, too many requests, or a server error. */
function shouldFallBack(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Sends an OpenAI-style request down a fallback chain with the gateway's upstream client. Each
 * step gets the body with its own upstream model name and its own upstream credentials; the
 * caller's credentials never leave the gateway. A 4xx other than 429 is the caller's mistake and
 * is returned as is; when every step fails, 502 `upstream_unavailable` lists what was tried.
 */
export async function forwardWithFallbacks(
  client: UpstreamClient,
  chain: OpenAiRoute[],
  request: {
    path: string;
    body: Record<string, unknown>;
    headers: Record<string, string>;
    signal?: AbortSignal;
  },
): Promise<OpenAiForwardResult> {
  const failures: { model: string; reason: string }[] = [];
  for (const route of chain) {
    const headers: Record<string, string> = {
      ...request.headers,
      'content-type': 'application/json',
    };
    if (route.upstream.apiKey) headers.authorization = `Bearer ${route.upstream.apiKey}`;
    let response: UpstreamResponse;
    try {
      response = await client.call(
        { id: route.upstream.name, url: route.upstream.baseUrl },
        {
          method: 'POST',
          path: request.path,
          headers,
          body: JSON.stringify({ ...request.body, model: route.upstreamModel }),
          signal: request.signal,
        },
      );
    } catch (error) {
      if (error instanceof UpstreamError && error.kind === 'aborted') throw error;
      failures.push({ model: route.model.id, reason: (error as Error).message });
      continue;
    }
    if (shouldFallBack(response.status)) {
      response.body.resume();
      failures.push({ model: route.model.id, reason: `${route.upstream.name} answered ${response.status}` });
      continue;
    }
    return { response, route, failures };
  }
  throw new AimeshError(
    'upstream_unavailable',
    502,
    `no upstream could serve the request: ${failures.map((f) => `${f.model}: ${f.reason}`).join('; ')}`,
  );
}
