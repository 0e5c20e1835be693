import { request } from 'undici';
import { AimeshError, badRequest } from '../../kernel/errors.js';
import type {
  Datatype,
  LoadedModel,
  ModelRuntime,
  ModelSource,
  Tensor,
  TensorSpec,
} from '../../ports/model-runtime.js';

// MISSION.md's outgoing-call limits: connect 10 s, read 30 s.
const timeouts = { headersTimeout: 30_000, bodyTimeout: 30_000, connectTimeout: 10_000 } as const;

interface RemoteOptions {
  url: string;
  model: string;
  apiKeyEnv?: string;
}

function remoteOptions(source: ModelSource): RemoteOptions {
  const o = source.options ?? {};
  if (typeof o.url !== 'string' || typeof o.model !== 'string')
    throw badRequest('invalid_remote', 'a remote model needs remote.url and a model name');
  return {
    url: o.url.replace(/\/+$/, ''),
    model: o.model,
    apiKeyEnv: typeof o.apiKeyEnv === 'string' ? o.apiKeyEnv : undefined,
  };
}

async function callJson(
  url: string,
  method: 'GET' | 'POST',
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(url, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      ...timeouts,
    });
  } catch (error) {
    throw new AimeshError(
      'upstream_unreachable',
      502,
      `remote model server ${url} is unreachable: ${(error as Error).message}`,
    );
  }
  const text = await response.body.text();
  if (response.statusCode >= 400)
    throw new AimeshError(
      'upstream_error',
      response.statusCode < 500 ? 400 : 502,
      `remote model server answered ${response.statusCode}: ${text.slice(0, 500)}`,
    );
  return JSON.parse(text) as Record<string, unknown>;
}

/** Another Open Inference Protocol (V2) server; this one forwards batches and keeps its own batching. */
export const v2RemoteRuntime: ModelRuntime = {
  format: 'v2',
  platform: 'remote_v2',
  async load(source): Promise<LoadedModel> {
    const { url, model } = remoteOptions(source);
    const base = `${url}/v2/models/${encodeURIComponent(model)}`;
    const meta = (await callJson(base, 'GET')) as { inputs?: TensorSpec[]; outputs?: TensorSpec[] };
    const inputs = meta.inputs ?? [];
    const outputs = meta.outputs ?? [];
    return {
      inputs,
      outputs,
      async run(batch: Tensor[]): Promise<Tensor[]> {
        const body = {
          inputs: batch.map((t) => ({
            name: t.name,
            datatype: t.datatype,
            shape: t.shape,
            data: Array.from(t.data as ArrayLike<number>, (v) => (typeof v === 'bigint' ? Number(v) : v)),
          })),
        };
        const answer = (await callJson(`${base}/infer`, 'POST', body)) as {
          outputs: { name: string; datatype: Datatype; shape: number[]; data: unknown[] }[];
        };
        return answer.outputs.map((o) => ({
          name: o.name,
          datatype: o.datatype,
          shape: o.shape,
          data: toData(o.datatype, o.data),
        }));
      },
      async dispose() {},
    };
  },
};

function toData(datatype: Datatype, data: unknown[]): Tensor['data'] {
  if (datatype === 'BYTES') return data.map(String);
  if (datatype === 'INT64') return BigInt64Array.from(data as number[], (v) => BigInt(v));
  if (datatype === 'FP64') return Float64Array.from(data as number[]);
  if (datatype === 'INT32') return Int32Array.from(data as number[]);
  return Float32Array.from(data as number[]);
}

/**
 * An OpenAI-compatible chat server as a model: BYTES input `prompt` [batch] → BYTES output
 * `text` [batch]; each row is one chat completion, sent concurrently.
 */
export const openAiRuntime: ModelRuntime = {
  format: 'openai',
  platform: 'remote_openai',
  async load(source): Promise<LoadedModel> {
    const { url, model, apiKeyEnv } = remoteOptions(source);
    const key = apiKeyEnv ? process.env[apiKeyEnv] : undefined;
    const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
    return {
      inputs: [{ name: 'prompt', datatype: 'BYTES', shape: [-1] }],
      outputs: [{ name: 'text', datatype: 'BYTES', shape: [-1] }],
      async run(batch: Tensor[]): Promise<Tensor[]> {
        const prompts = batch[0].data as string[];
        const texts = await Promise.all(
          prompts.map(async (prompt) => {
            const answer = (await callJson(
              `${url}/v1/chat/completions`,
              'POST',
              { model, messages: [{ role: 'user', content: prompt }] },
              headers,
            )) as {
              choices?: { message?: { content?: string } }[];
            };
            return answer.choices?.[0]?.message?.content ?? '';
          }),
        );
        return [{ name: 'text', datatype: 'BYTES', shape: [texts.length], data: texts }];
      },
      async dispose() {},
    };
  },
};
