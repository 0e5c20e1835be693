import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { role } from '../kernel/access.js';
import { type HttpServer, toHttpError } from '../kernel/http.js';
import type { InferenceService } from './inference-service.js';
import type { ModelManager, ModelVersion } from './model-manager.js';
import { encodeTensor } from './tensor-codec.js';

/** What the V2 routes need from the module. */
export interface V2RouteDeps {
  service: InferenceService;
  models: ModelManager;
  ready(): boolean;
}

const JsonTensorSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  shape: Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 32 }),
  datatype: Type.String(),
  data: Type.Array(Type.Unknown()),
  parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});

const InferBody = Type.Object({
  id: Type.Optional(Type.String({ maxLength: 256 })),
  parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  inputs: Type.Array(JsonTensorSchema, { minItems: 1, maxItems: 64 }),
  outputs: Type.Optional(
    Type.Array(
      Type.Object({
        name: Type.String(),
        parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      }),
      { maxItems: 64 },
    ),
  ),
});

const ModelParams = Type.Object({ name: Type.String({ minLength: 1 }) });
const VersionParams = Type.Object({
  name: Type.String({ minLength: 1 }),
  version: Type.String({ minLength: 1 }),
});
const tags = ['inference (V2)'];

/**
 * V2 errors are `{ "error": "message" }` (the protocol's shape), with our stable `code` beside it
 * for programs; a full queue says when to retry.
 */
export function sendV2Error(error: unknown, reply: FastifyReply) {
  const { status, body } = toHttpError(error);
  const retry = (error as { details?: { retryAfterSeconds?: number } }).details?.retryAfterSeconds;
  if (retry !== undefined) reply.header('retry-after', String(retry));
  if (status >= 500 && status !== 503 && status !== 504) reply.log.error({ err: error }, 'inference failed');
  return reply.status(status).send({ error: body.error.message, code: body.error.code });
}

function metadata(v: ModelVersion, versions: number[]) {
  return {
    name: v.model,
    versions: versions.map(String),
    platform: v.platform,
    inputs: v.loaded.inputs,
    outputs: v.loaded.outputs,
  };
}

/**
 * The Open Inference Protocol (V2, as KServe and Triton speak it) under `/v2`: server and
 * model health and metadata, and inference with JSON tensors.
 */
export async function v2Routes(server: HttpServer, deps: V2RouteDeps): Promise<void> {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  const { service, models } = deps;
  app.setErrorHandler((error, _request, reply) => sendV2Error(error, reply));
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: `no route for ${request.method} ${request.url.split('?')[0]}` }),
  );

  app.get('/', { config: role('public'), schema: { tags, summary: 'Server metadata' } }, async () => ({
    name: 'aimesh',
    version: '0.1.0',
    extensions: ['model_repository'],
  }));
  app.get(
    '/health/live',
    { config: role('public'), schema: { tags, summary: 'Server liveness' } },
    async () => ({ live: true }),
  );
  app.get(
    '/health/ready',
    {
      config: role('public'),
      schema: { tags, summary: 'Server readiness: every configured model is loaded' },
    },
    async (_request, reply) => {
      const ready = deps.ready();
      return reply.status(ready ? 200 : 503).send({ ready });
    },
  );

  const versionsOf = (name: string) =>
    models
      .list()
      .find((m) => m.name === name)
      ?.versions.map((v) => v.version) ?? [];
  app.get(
    '/models/:name',
    {
      config: role('public'),
      schema: { tags, summary: 'Model metadata (default version)', params: ModelParams },
    },
    async (request) => {
      const v = models.resolve(request.params.name);
      return metadata(v, versionsOf(v.model));
    },
  );
  app.get(
    '/models/:name/versions/:version',
    { config: role('public'), schema: { tags, summary: 'Model version metadata', params: VersionParams } },
    async (request) => {
      const v = models.resolve(request.params.name, request.params.version);
      return metadata(v, [v.version]);
    },
  );
  app.get(
    '/models/:name/ready',
    { config: role('public'), schema: { tags, summary: 'Model readiness', params: ModelParams } },
    async (request) => {
      const v = models.resolve(request.params.name);
      return { name: v.model, ready: true };
    },
  );
  app.get(
    '/models/:name/versions/:version/ready',
    { config: role('public'), schema: { tags, summary: 'Model version readiness', params: VersionParams } },
    async (request) => {
      const v = models.resolve(request.params.name, request.params.version);
      return { name: v.model, version: String(v.version), ready: true };
    },
  );

  const infer = async (
    name: string,
    version: string | undefined,
    body: typeof InferBody.static,
    requestId: string,
    reply: FastifyReply,
  ) => {
    const result = await service.infer({
      model: name,
      version,
      inputs: body.inputs,
      outputs: body.outputs?.map((o) => o.name),
      requestId,
    });
    reply.header('x-model-id', result.model).header('x-model-version', String(result.version));
    return {
      model_name: result.model,
      model_version: String(result.version),
      ...(body.id === undefined ? {} : { id: body.id }),
      outputs: result.outputs.map(encodeTensor),
    };
  };
  app.post(
    '/models/:name/infer',
    {
      config: role('public'),
      schema: { tags, summary: 'Inference on the default version', params: ModelParams, body: InferBody },
    },
    (request, reply) => infer(request.params.name, undefined, request.body, request.id, reply),
  );
  app.post(
    '/models/:name/versions/:version/infer',
    {
      config: role('public'),
      schema: { tags, summary: 'Inference on a version or alias', params: VersionParams, body: InferBody },
    },
    (request, reply) => infer(request.params.name, request.params.version, request.body, request.id, reply),
  );
}
