import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import { isAimeshError } from './errors.js';
import { IdSource } from './ids.js';
import type { Logger } from './logger.js';

/** The HTTP server every process runs; modules register their plugins on it. */
export type HttpServer = FastifyInstance;

export interface HttpOptions {
  logger: Logger;
  bodyLimitBytes: number;
}

/** The uniform error body: `{ "error": { "code", "message" } }`. */
export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** Maps any thrown error to a status and our error body; unknown errors become 500 internal_error. */
export function toHttpError(error: unknown): { status: number; body: ReturnType<typeof errorBody> } {
  if (isAimeshError(error)) return { status: error.status, body: errorBody(error.code, error.message) };
  const e = error as FastifyError;
  if (e?.validation) return { status: 400, body: errorBody('invalid_request', e.message) };
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: errorBody('payload_too_large', e.message) };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: errorBody('unsupported_media_type', e.message) };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: errorBody('empty_body', e.message) };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { status: 400, body: errorBody('invalid_content_length', e.message) };
  }
  if (e instanceof SyntaxError || e?.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return { status: 400, body: errorBody('invalid_json', `request body is not valid JSON: ${e.message}`) };
  }
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    return { status, body: errorBody(String(e.code ?? 'bad_request').toLowerCase(), e.message) };
  }
  return { status: 500, body: errorBody('internal_error', 'internal error; see the server log') };
}

/** Creates the Fastify server with our error shape, request ids and OpenAPI docs at /docs. */
export async function createHttpServer(options: HttpOptions): Promise<HttpServer> {
  const ids = new IdSource();
  const app = Fastify({
    loggerInstance: options.logger,
    // Per-request logging at info would cost more than the gateway itself; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (it cost a serialisation of its bindings per call): the few
    // request-scoped lines name their request id themselves.
    childLoggerFactory: (logger) => logger,
    bodyLimit: options.bodyLimitBytes,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && given.length > 0 && given.length <= 128 ? given : ids.next();
    },
    requestIdHeader: false,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setErrorHandler((error, request, reply) => {
    const { status, body } = toHttpError(error);
    if (status >= 500) request.log.error({ err: error, reqId: request.id }, 'request failed');
    return reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`)),
  );

  await app.register(swagger, {
    openapi: {
      info: { title: 'aimesh', version: '0.1.0', description: 'aimesh HTTP API' },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          bearer: { type: 'http', scheme: 'bearer' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  return app as unknown as HttpServer;
}
