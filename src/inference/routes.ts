import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { role } from '../kernel/access.js';
import { badRequest } from '../kernel/errors.js';
import { type HttpServer, toHttpError } from '../kernel/http.js';
import { INT4_MAX, SafeInteger } from '../kernel/input-schemas.js';
import type { InferenceService } from './inference-service.js';
import type { ModelLoader } from './model-loader.js';
import type { ModelManager } from './model-manager.js';
import { encodeTensor } from './tensor-codec.js';

/** What the seed and repository routes need. */
export interface RouteDeps {
  service: InferenceService;
  models: ModelManager;
  loader: ModelLoader;
  drainDeadline(): number;
}

function sendError(error: unknown, reply: FastifyReply) {
  const { status, body } = toHttpError(error);
  const retry = (error as { details?: { retryAfterSeconds?: number } }).details?.retryAfterSeconds;
  if (retry !== undefined) reply.header('retry-after', String(retry));
  if (status >= 500 && status !== 503 && status !== 504) reply.log.error({ err: error }, 'request failed');
  return reply.status(status).send(body);
}

const SeedBody = Type.Object({
  modelId: Type.Optional(Type.String({ minLength: 1, description: 'Model name; or give modelType.' })),
  modelType: Type.Optional(
    Type.String({ minLength: 1, description: 'Model type; the first loaded model of this type serves.' }),
  ),
  version: Type.Optional(
    Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1 })], {
      description: 'Version number or alias.',
    }),
  ),
  inputs: Type.Array(Type.Unknown(), {
    minItems: 1,
    description: 'A row, rows, strings, or V2 tensors ({ name, shape, datatype, data }).',
  }),
  outputs: Type.Optional(Type.Array(Type.String())),
});

const isV2Tensor = (v: unknown) =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && 'datatype' in v;

/** Rows of the first output, nested as its shape says, for callers that want plain arrays. */
function nest(data: unknown[], shape: number[]): unknown {
  if (shape.length <= 1) return data;
  const size = data.length / shape[0];
  return Array.from({ length: shape[0] }, (_, i) =>
    nest(data.slice(i * size, (i + 1) * size), shape.slice(1)),
  );
}

/** `POST /api/v1/ai/inference`, the platform's simple inference call (the gateway routes `/api/v1/ai/**` here). */
export async function seedRoutes(server: HttpServer, deps: RouteDeps): Promise<void> {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  app.setErrorHandler((error, _request, reply) => sendError(error, reply));
  app.post(
    '/inference',
    {
      config: role('public'),
      schema: { tags: ['inference'], summary: 'Run a model on inputs', body: SeedBody },
    },
    async (request, reply) => {
      const body = request.body;
      const header = (name: string) => {
        const v = request.headers[name];
        return typeof v === 'string' && v.length > 0 ? v : undefined;
      };
      // X-Model-Id first: behind a gateway it names the model the gateway chose and checked
      // against the caller's access rules (it never forwards the caller's own).
      const model =
        header('x-model-id') ??
        body.modelId ??
        (body.modelType ? deps.models.modelOfType(body.modelType) : undefined);
      if (!model) throw badRequest('missing_model', 'give modelId or modelType (or the X-Model-Id header)');
      const version = body.version === undefined ? header('x-model-version') : String(body.version);
      const tensors = body.inputs.every(isV2Tensor);
      if (!tensors && body.inputs.some(isV2Tensor))
        throw badRequest('invalid_inputs', 'inputs mix V2 tensors and plain values');
      const result = await deps.service.infer({
        model,
        version,
        ...(tensors ? { inputs: body.inputs as never } : { inputs: [], values: body.inputs }),
        outputs: body.outputs,
        requestId: request.id,
      });
      reply.header('x-model-id', result.model).header('x-model-version', String(result.version));
      const outputs = result.outputs.map(encodeTensor);
      return {
        modelId: result.model,
        modelVersion: String(result.version),
        predictions: outputs[0] ? nest(outputs[0].data as unknown[], outputs[0].shape) : [],
        outputs,
        latencyMs: result.latencyMs,
        batchSize: result.batchSize,
        cached: result.cached,
      };
    },
  );
}

const LoadBody = Type.Object({
  parameters: Type.Optional(
    Type.Object({ version: Type.Optional(SafeInteger({ minimum: 1, maximum: INT4_MAX })) }),
  ),
});
const AliasBody = Type.Object({ version: SafeInteger({ minimum: 1, maximum: INT4_MAX }) });
const CanaryBody = Type.Object({
  weights: Type.Record(Type.String({ pattern: '^[0-9]+$' }), Type.Number({ minimum: 0, maximum: 100 })),
});
const Name = Type.Object({ name: Type.String({ minLength: 1 }) });
const repoTags = ['inference repository'];

/** Model repository admin, shaped like Triton's repository extension: index, load, unload; plus aliases and canary weights. */
export async function repositoryRoutes(server: HttpServer, deps: RouteDeps): Promise<void> {
  const app = server.withTypeProvider<TypeBoxTypeProvider>();
  app.setErrorHandler((error, _request, reply) => sendError(error, reply));
  app.get(
    '/models',
    {
      config: role('caller'),
      schema: { tags: repoTags, summary: 'Loaded models, versions, aliases, canary weights' },
    },
    async () => ({ models: deps.models.list() }),
  );
  app.post(
    '/index',
    { config: role('caller'), schema: { tags: repoTags, summary: 'Repository index (Triton shape)' } },
    async () =>
      deps.models
        .list()
        .flatMap((m) =>
          m.versions.map((v) => ({ name: m.name, version: String(v.version), state: 'READY' })),
        ),
  );
  app.post(
    '/models/:name/load',
    {
      config: role('operator'),
      schema: {
        tags: repoTags,
        summary: 'Load a model (all versions, or one)',
        params: Name,
        body: LoadBody,
      },
    },
    async (request) => {
      const versions = await deps.loader.load(request.params.name, request.body?.parameters?.version);
      return { name: request.params.name, loaded: versions.map(String) };
    },
  );
  app.post(
    '/models/:name/unload',
    {
      config: role('operator'),
      schema: {
        tags: repoTags,
        summary: 'Unload a model (all versions, or one); queued requests finish first',
        params: Name,
        body: Type.Optional(LoadBody),
      },
    },
    async (request) => {
      const versions = await deps.models.unload(
        request.params.name,
        request.body?.parameters?.version,
        deps.drainDeadline(),
      );
      return { name: request.params.name, unloaded: versions.map(String) };
    },
  );
  app.put(
    '/models/:name/aliases/:alias',
    {
      config: role('operator'),
      schema: {
        tags: repoTags,
        summary: 'Point an alias at a loaded version',
        params: Type.Object({
          name: Type.String(),
          alias: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,63}$' }),
        }),
        body: AliasBody,
      },
    },
    async (request) => {
      const v = deps.models.resolve(request.params.name, String(request.body.version));
      deps.models.setAlias(v.model, request.params.alias, v.version);
      return { name: v.model, alias: request.params.alias, version: String(v.version) };
    },
  );
  app.put(
    '/models/:name/canary',
    {
      config: role('operator'),
      schema: {
        tags: repoTags,
        summary: 'Percent of unversioned traffic per version',
        params: Name,
        body: CanaryBody,
      },
    },
    async (request) => {
      const weights = Object.fromEntries(
        Object.entries(request.body.weights).map(([v, w]) => [Number(v), w]),
      );
      const total = Object.values(weights).reduce((a, b) => a + b, 0);
      if (total > 100)
        throw badRequest('invalid_weights', `canary weights add up to ${total}%, more than 100%`);
      for (const v of Object.keys(weights)) deps.models.resolve(request.params.name, v);
      deps.models.setCanary(request.params.name, weights);
      return { name: request.params.name, canary: weights };
    },
  );
}
