import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RateLimitDecision } from '../../ports/rate-limit-store.js';
import type { Principal } from '../auth/principal.js';
import type { CallerConnection } from '../proxy/caller-connections.js';
import type { Choice, ForwardRequest, ForwardResult } from '../proxy/forwarder.js';
import type { ExchangeSink, UpstreamExchange } from '../proxy/upstream-client.js';
import type { LazyBody } from '../routing/route-table.js';
import type { TokenUsageReader } from './token-usage-reader.js';

/** Which front took a call: the native traffic routes or the OpenAI-compatible front. */
export type FrontName = 'native' | 'openai';

/**
 * What a front brings to the one gateway pipeline: how a call's model is chosen (access rules
 * applied), what is sent upstream and how the answer is dressed. One per route, made at start.
 */
export interface CallFront {
  readonly name: FrontName;
  /** The route, as metrics and events name it. */
  readonly route: string;
  /** Calls need credentials even where the gateway lets anonymous calls pass. */
  readonly credentialsRequired: boolean;
  /** The choices for the call, best first, each allowed to its principal; rejects with 4xx refusals. */
  choose(call: GatewayCall): Promise<Choice[]>;
  /** A check after choosing that may wait (the token quota); throws a refusal. */
  admit?(call: GatewayCall): Promise<void>;
  /** The call to forward through the resilience chain. */
  forwardRequest(call: GatewayCall, caller: CallerConnection): ForwardRequest;
  /** Adds the answer's headers from the upstream's (`out` already holds the gateway's own). */
  answerHeaders(
    call: GatewayCall,
    response: UpstreamExchange,
    out: Record<string, string | string[] | number>,
  ): void;
  /** Told when the call is over, answered or not (front metrics, quota charges). */
  finished?(call: GatewayCall): void;
}

const UNPARSED = Symbol('unparsed');

/**
 * One call through the gateway: what came in, who made it, what was chosen, what answered and
 * when. Every stage reads and writes it, so none takes a long list of parameters; it is also
 * told when the relayed body is through (and records the call then).
 */
export class GatewayCall implements ExchangeSink, LazyBody {
  /** When the call came in (performance.now()). */
  readonly started = performance.now();
  principal: Principal | undefined;
  /** The rate limiter's decision; its headers go on every answer. */
  decision: RateLimitDecision | undefined;
  /** Set once the call is sent on (a call refused before is not recorded as an event). */
  choices: Choice[] | undefined;
  /** What answered, once the upstream's headers are in. */
  answer: ForwardResult | undefined;
  status = 0;
  /** Time to the answer's headers, ms. */
  headersMs = 0;
  /** The version the upstream said served the call, when the choice left it open. */
  servedVersion: string | undefined;
  /** The answer is a stream of server-sent events. */
  stream = false;
  /** Reads the token usage from the relayed answer, where the front wants it. */
  usage: TokenUsageReader | undefined;
  /** A front's own parse of the body. */
  parsed: unknown = UNPARSED;

  constructor(
    readonly front: CallFront,
    readonly id: string,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    /** Path and query as received. */
    readonly url: string,
    /** The path without its query. */
    readonly path: string,
    readonly body: Buffer | undefined,
    /** Told when the relayed body is through. */
    private readonly onRelayEnded: (call: GatewayCall, error: Error | undefined) => void,
  ) {}

  /** The body as JSON (undefined when it is none, not JSON or declared as something else), parsed once. */
  value(): unknown {
    if (this.parsed === UNPARSED) this.parsed = parseJson(this.body, this.req.headers['content-type']);
    return this.parsed;
  }

  /** Tokens the upstream reported using, when it said. */
  get totalTokens(): number | undefined {
    return this.usage?.totalTokens;
  }

  /** The first choice's model: the one asked for (or ranked first). */
  get requestedModel(): string | undefined {
    return this.choices?.[0]?.model?.id;
  }

  relayEnded(error: Error | undefined): void {
    this.onRelayEnded(this, error);
  }
}

function parseJson(raw: Buffer | undefined, contentType: string | undefined): unknown {
  if (!raw || raw.length === 0 || (contentType && !contentType.includes('json'))) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
}
