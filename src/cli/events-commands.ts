import type { Command } from 'commander';
import { request } from 'undici';
import { ServerRefusal } from './cli-errors.js';
import { callApi, clientHeaders } from './client.js';
import { wholeNumber } from './option-values.js';

interface TailOptions {
  type?: string;
  url?: string;
  /** Stop after this many events (for scripts); default: follow until interrupted. */
  count?: number;
}

/** `aimesh events tail` and `aimesh events ls`: follow the live stream, query the store. */
export function registerEventsCommands(program: Command): void {
  const events = program.command('events').description('follow and query the event log');
  events
    .command('tail')
    .description('print live events as JSON lines (follows GET /api/v1/events/stream)')
    .option('-t, --type <type>', 'only this type; * matches one dotted part, > the rest (ai.inference.*)')
    .option('-u, --url <url>', 'aimesh base URL (default AIMESH_URL or http://127.0.0.1:8080)')
    .option('-n, --count <n>', 'exit after this many events', wholeNumber(1))
    .addHelpText(
      'after',
      `
Examples:
  aimesh events tail
  aimesh events tail --type 'ai.inference.*' --count 5                   # calls through the gateway
  aimesh events tail --type 'ai.serving.*'                               # the model server's part of them
  aimesh events tail --type ai.inference.completed --url http://127.0.0.1:9090   # another instance's main port`,
    )
    .action(async (opts: TailOptions) => {
      const limit = opts.count ?? Number.POSITIVE_INFINITY;
      await tail(opts.url ?? process.env.AIMESH_URL ?? 'http://127.0.0.1:8080', opts.type, limit);
    });
  events
    .command('ls')
    .description('query stored events (GET /api/v1/events), one JSON line each, in store order')
    .option('-t, --type <type>', 'only this type')
    .option('--from <time>', 'RFC 3339 time, inclusive')
    .option('--to <time>', 'RFC 3339 time, inclusive')
    .option('--correlation-id <id>', 'only events of this correlation')
    .option('--causation-id <id>', 'only events caused by this one (ordered by time)')
    .option('--after <position>', 'only events after this store position')
    .option('-l, --limit <n>', 'at most this many', wholeNumber(1), 100)
    .option('-u, --url <url>', 'aimesh base URL (default AIMESH_URL or http://127.0.0.1:8080)')
    .action(async (opts: Record<string, string | undefined>) => {
      const query = new URLSearchParams();
      const names: Record<string, string> = {
        type: 'type',
        from: 'from',
        to: 'to',
        correlationId: 'correlationId',
        causationId: 'causationId',
        after: 'after',
        limit: 'limit',
      };
      for (const [option, param] of Object.entries(names)) {
        if (opts[option] !== undefined) query.set(param, String(opts[option]));
      }
      const result = await callApi<{ events: unknown[] }>('GET', `/api/v1/events?${query}`, undefined, {
        url: opts.url,
      });
      for (const event of result.events) process.stdout.write(`${JSON.stringify(event)}\n`);
    });
}

/** Follows the SSE stream, printing each event's JSON; reconnects (with backoff) when it drops. */
async function tail(base: string, type: string | undefined, limit: number): Promise<void> {
  const url = new URL('/api/v1/events/stream', base);
  if (type) url.searchParams.set('type', type);
  let printed = 0;
  let failures = 0;
  while (printed < limit) {
    try {
      const response = await request(url, {
        headers: { ...clientHeaders({ url: base }), accept: 'text/event-stream' },
        bodyTimeout: 0,
      });
      if (response.statusCode !== 200) {
        const text = await response.body.text();
        throw new ServerRefusal(
          'stream_refused',
          response.statusCode,
          `${url} answered ${response.statusCode}: ${text}`,
        );
      }
      failures = 0;
      let pending = '';
      for await (const chunk of response.body) {
        pending += chunk.toString();
        let end = pending.indexOf('\n\n');
        while (end >= 0) {
          const data = dataOf(pending.slice(0, end));
          pending = pending.slice(end + 2);
          if (data !== undefined) {
            process.stdout.write(`${data}\n`);
            printed += 1;
            if (printed >= limit) {
              response.body.destroy();
              return;
            }
          }
          end = pending.indexOf('\n\n');
        }
      }
      console.error('aimesh: event stream ended; reconnecting');
    } catch (error) {
      if (error instanceof ServerRefusal && error.status < 500) throw error;
      failures += 1;
      if (failures === 1) console.error(`aimesh: ${(error as Error).message}; retrying`);
    }
    await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** failures, 5_000)));
  }
}

/** The `data:` payload of one SSE frame, or undefined for comments and keep-alives. */
function dataOf(frame: string): string | undefined {
  const lines = frame.split('\n').filter((l) => l.startsWith('data:'));
  return lines.length === 0 ? undefined : lines.map((l) => l.slice(5).trimStart()).join('\n');
}
