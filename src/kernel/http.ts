import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import { AccessGuard, routeRoleOf } from './access.js';
import { canonicalUrl } from './canonical-path.js';
import { ConnectionDrain } from './connection-drain.js';
import { AimeshError, isAimeshError, retryAfterOf } from './errors.js';
import { IdSource } from './ids.js';
import type { Logger } from './logger.js';
import { checkRequestValues, MAX_JSON_DEPTH, parseJsonBody } from './request-input.js';

/** The HTTP server every process runs; modules register their plugins on it. */
export type HttpServer = FastifyInstance;

/** Takes a request of a traffic prefix straight from Node's server; `id` is its request id. */
export type TrafficHandler = (req: IncomingMessage, res: ServerResponse, id: string) => void;

declare module 'fastify' {
  interface FastifyInstance {
    /** Path prefixes served ahead of the router (the gateway's proxied traffic). */
    traffic: TrafficRoutes;
    /** Who may call what: the credential resolvers and the guarded routes of this process. */
    access: AccessGuard;
  }
  interface FastifyContextConfig {
    /** This route serves a traffic prefix too (its fallback when the prefix is shadowed). */
    traffic?: boolean;
  }
}

/**
 * Path prefixes whose requests go from Node's HTTP server straight to their handler, ahead of
 * Fastify's router, hooks, request and reply objects and body parser: a proxied call needs
 * none of them, and on the gateway's path they cost a fifth of a minimal proxy's CPU per call.
 * A prefix under which another module has routes is left to the router, whose precedence
 * (most specific route first) then decides as before; its handler is registered there too.
 */
export class TrafficRoutes {
  private readonly routes: { prefix: string; handler: TrafficHandler }[] = [];
  private readonly others: string[] = [];
  /** The prefixes served here, worked out at the first request (routes are all known by then). */
  private active: { prefix: string; handler: TrafficHandler }[] | undefined;

  constructor(private readonly requestId: (req: IncomingMessage) => string) {}

  /** Serves `prefix` and everything under it with `handler`. */
  add(prefix: string, handler: TrafficHandler): void {
    if (prefix === '' || prefix === '/') return;
    this.routes.push({ prefix, handler });
    this.active = undefined;
  }

  /** A route the router serves (told of every route as it is added). */
  routed(url: string): void {
    this.others.push(url);
    this.active = undefined;
  }

  /** True when a traffic route took the request. */
  dispatch(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.active) this.active = this.resolve();
    const active = this.active;
    if (active.length === 0) return false;
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    for (let i = 0; i < active.length; i++) {
      const { prefix, handler } = active[i];
      if (
        path.startsWith(prefix) &&
        (path.length === prefix.length || path.charCodeAt(prefix.length) === 47)
      ) {
        handler(req, res, this.requestId(req));
        return true;
      }
    }
    return false;
  }

  // Longest prefix first; a prefix with another module's route at or under it stays routed.
  private resolve(): { prefix: string; handler: TrafficHandler }[] {
    return this.routes
      .filter(({ prefix }) => !this.others.some((url) => url === prefix || url.startsWith(`${prefix}/`)))
      .sort((a, b) => b.prefix.length - a.prefix.length);
  }
}

export interface HttpOptions {
  logger: Logger;
  bodyLimitBytes: number;
  /** On stop, how long a connection accepted before it may take to send its first request (default 1000). */
  firstRequestGraceMs?: number;
  /** How deep a JSON body may nest (default 64). */
  maxJsonDepth?: number;
  /**
   * The process's access guard, shared by its listeners (a module's own listener passes the
   * main one's `http.access`); a new one, with no credential sources, when not given.
   */
  access?: AccessGuard;
  /** Which listener this is, in the guard's route list (default `main`). */
  listener?: string;
}

/** The uniform error body: `{ "error": { "code", "message" } }`. */
export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

const RANGE_KEYWORDS = new Set(['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum']);

/** Maps any thrown error to a status and our error body; unknown errors become 500 internal_error. */
export function toHttpError(error: unknown): { status: number; body: ReturnType<typeof errorBody> } {
  if (isAimeshError(error)) return { status: error.status, body: errorBody(error.code, error.message) };
  const e = error as FastifyError;
  if (e?.validation) {
    // A number beyond a schema's bounds (e.g. past what its column holds) says so by its code.
    const range = e.validation.some((v) => RANGE_KEYWORDS.has(v.keyword));
    return { status: 400, body: errorBody(range ? 'number_out_of_range' : 'invalid_request', e.message) };
  }
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

/** 400 for a path that reads differently to different readers (an encoded `/`, a NUL, bad escapes). */
function refuseAmbiguousPath(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  const text = JSON.stringify(
    errorBody(
      'invalid_path',
      'the request path is ambiguous: an encoded "/" or "\\", a control character or a malformed %-escape',
    ),
  );
  res.writeHead(400, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    connection: 'close',
  });
  res.end(text);
}

const DOCS = '/docs';

/** Creates the Fastify server with our error shape, request ids and OpenAPI docs at /docs. */
export async function createHttpServer(options: HttpOptions): Promise<HttpServer> {
  const ids = new IdSource();
  const requestId = (req: IncomingMessage) => {
    const given = req.headers['x-request-id'];
    return typeof given === 'string' && given.length > 0 && given.length <= 128 ? given : ids.next();
  };
  const traffic = new TrafficRoutes(requestId);
  let connections: ConnectionDrain | undefined;
  const app = Fastify({
    serverFactory: (handler, settings) => {
      const server = createServer((req, res) => {
        connections!.onRequest(req, res);
        // One path for everything after this point: router, traffic routes, limits, rules, events.
        const url = req.url ?? '/';
        const canonical = canonicalUrl(url);
        if (canonical === undefined) {
          refuseAmbiguousPath(req, res);
          return;
        }
        if (canonical !== url) req.url = canonical;
        if (!traffic.dispatch(req, res)) handler(req, res);
      });
      connections = new ConnectionDrain(server, options.firstRequestGraceMs ?? 1000);
      // What Fastify sets on a server it makes itself.
      const o = settings as {
        keepAliveTimeout?: number;
        requestTimeout?: number;
        connectionTimeout?: number;
        maxRequestsPerSocket?: number;
      };
      server.keepAliveTimeout = o.keepAliveTimeout ?? server.keepAliveTimeout;
      server.requestTimeout = o.requestTimeout ?? server.requestTimeout;
      server.setTimeout(o.connectionTimeout ?? 0);
      if ((o.maxRequestsPerSocket ?? 0) > 0) server.maxRequestsPerSocket = o.maxRequestsPerSocket!;
      return server;
    },
    loggerInstance: options.logger,
    // Per-request logging at info would cost more than the gateway itself; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request (it cost a serialisation of its bindings per call): the few
    // request-scoped lines name their request id themselves.
    childLoggerFactory: (logger) => logger,
    bodyLimit: options.bodyLimitBytes,
    genReqId: requestId,
    requestIdHeader: false,
    forceCloseConnections: 'idle',
    // While draining, requests on connections already accepted are answered, not refused.
    return503OnClosing: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.decorate('traffic', traffic);
  const access = options.access ?? new AccessGuard();
  const listener = options.listener ?? 'main';
  app.decorate('access', access);
  // The access guard: every route states the role it needs (none stated: `admin`), checked
  // before anything else runs. A path without a route falls through to the 404 answer.
  app.addHook('onRequest', async (request) => {
    if (request.is404) return;
    request.principal = await access.check(request.headers, routeRoleOf(request.routeOptions.config));
  });
  // Runs before Fastify closes the server, so no connection is left for it to drop.
  app.addHook('preClose', () => connections!.drain());
  // Every route but the traffic fallbacks: a traffic prefix they fall under is left to the router.
  app.addHook('onRoute', (route) => {
    if (!route.config?.traffic) traffic.routed(route.url);
    // The API documentation (swagger-ui's routes, which state no role) is for everyone.
    if ((route.url === DOCS || route.url.startsWith(`${DOCS}/`)) && route.config?.role === undefined)
      route.config = { ...route.config, role: 'public' };
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods)
      access.routes.push({
        listener,
        method,
        url: route.url,
        role: routeRoleOf(route.config),
        stated: route.config?.role !== undefined,
      });
  });
  app.setErrorHandler((error, request, reply) => {
    const { status, body } = toHttpError(error);
    // A dependency's outage is logged where it is noticed, not once per refused request.
    if (status >= 500 && status !== 503)
      request.log.error({ err: error, reqId: request.id }, 'request failed');
    const retryAfter = retryAfterOf(error);
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
    return reply.status(status).send(body);
  });
  // Bad input is a 400 here, once for every module: JSON nested too deep, text PostgreSQL cannot
  // store (NUL, lone surrogates, invalid UTF-8), numbers that are not finite or lose digits.
  const maxDepth = options.maxJsonDepth ?? MAX_JSON_DEPTH;
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer, maxDepth));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  app.addHook('preHandler', (request, _reply, done) => {
    try {
      checkRequestValues('params', request.params);
      checkRequestValues('querystring', request.query);
      done();
    } catch (error) {
      done(error as Error);
    }
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
  await app.register(swaggerUi, { routePrefix: DOCS });
  return app as unknown as HttpServer;
}

/**
 * Listens on `host:port` and returns the port bound. A port in use or not permitted becomes
 * one `port_unavailable` error naming `setting`, the configuration key that moves it.
 */
export async function listenHttp(
  app: HttpServer,
  host: string,
  port: number,
  setting: string,
): Promise<number> {
  try {
    await app.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      const why =
        code === 'EADDRINUSE' ? 'is in use' : code === 'EACCES' ? 'is not permitted' : 'is not local';
      throw new AimeshError(
        'port_unavailable',
        500,
        `${host}:${port} ${why}; set ${setting} to another port (0 = any free port)`,
      );
    }
    throw error;
  }
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : port;
}
