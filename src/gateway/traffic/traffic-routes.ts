import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  RouteOptions,
} from 'fastify';
import { errorBody } from '../../kernel/http.js';
import type { CallFront } from '../pipeline/gateway-call.js';
import type { GatewayPipeline } from '../pipeline/gateway-pipeline.js';
import { sendJson } from '../pipeline/send-json.js';
import { readBody } from './read-body.js';

/** Every method the traffic routes answer. */
export const TRAFFIC_METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS'] as const;

/** One path served by a front of the pipeline. */
export interface TrafficEntry {
  /** The path; with `subtree`, everything under it too. */
  path: string;
  subtree: boolean;
  /**
   * An exact path served from Node's server too, not only by the router (for paths under which
   * nothing else lies, like the OpenAI front's); subtrees always are.
   */
  direct?: boolean;
  methods: readonly (typeof TRAFFIC_METHODS)[number][];
  front: CallFront;
  /** Shown in the OpenAPI documentation (the route is hidden otherwise). */
  schema?: RouteOptions['schema'];
}

/**
 * Serves paths through the gateway pipeline straight from Node's server (the kernel's traffic
 * routes), ahead of Fastify's router, hooks, request and reply objects and body parser: a call
 * through the gateway needs none of them. Each path is also a Fastify route, which serves it when
 * another module's routes shadow the prefix, and documents it.
 */
export function trafficRoutes(
  pipeline: GatewayPipeline,
  entries: readonly TrafficEntry[],
): FastifyPluginAsync {
  return async (app) => {
    // The body is forwarded as it came; it is parsed only when a stage must read it.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024;
    for (const entry of entries) addEntry(app, pipeline, entry, bodyLimit);
  };
}

function addEntry(
  app: FastifyInstance,
  pipeline: GatewayPipeline,
  entry: TrafficEntry,
  bodyLimit: number,
): void {
  const { front } = entry;
  const handler = (request: FastifyRequest, reply: FastifyReply) => {
    reply.hijack();
    const body = request.body as Buffer | undefined;
    const call = pipeline.call(
      front,
      request.id,
      request.raw,
      reply.raw,
      body && body.length > 0 ? body : undefined,
    );
    return pipeline.run(call);
  };
  const urls = entry.subtree ? [`${entry.path}/*`, ...(entry.path ? [entry.path] : [])] : [entry.path];
  for (const url of urls) {
    app.route({
      method: [...entry.methods],
      url,
      exposeHeadRoute: false,
      schema: entry.schema ?? { hide: true },
      // The body stays bytes: a documented schema is not checked here (the front checks it).
      validatorCompiler: () => () => true,
      // The fallback when another module's routes share the prefix (see TrafficRoutes); an exact
      // path served by the router alone is a route like any other there.
      // Public to the access guard: the gateway's pipeline authenticates every call itself.
      config: { traffic: entry.subtree || entry.direct === true, role: 'public' },
      handler,
    });
  }
  if (!entry.subtree && !entry.direct) return;
  const methods = new Set<string>(entry.methods);
  app.traffic.add(entry.path, (req, res, id) => {
    if (!methods.has(req.method ?? '') || (!entry.subtree && pathOf(req) !== entry.path)) {
      notFound(req, res);
      return;
    }
    readBody(req, res, bodyLimit, (body) => pipeline.run(pipeline.call(front, id, req, res, body)));
  });
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

function notFound(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  sendJson(res, 404, {}, errorBody('not_found', `no route for ${req.method} ${pathOf(req)}`));
}
