import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody } from '../../kernel/http.js';
import { sendJson } from '../pipeline/send-json.js';

/**
 * Reads a request body of at most `limit` bytes, then calls `done` (undefined when empty); a
 * larger one is refused with 413 as Fastify would, an aborted one ends the exchange.
 */
export function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
  done: (body: Buffer | undefined) => void,
): void {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    tooLarge(req, res, limit);
    return;
  }
  if (declared === 0 && req.headers['transfer-encoding'] === undefined) {
    // No body to wait for; still let the message finish so the connection can be reused.
    req.resume();
    done(undefined);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      req.removeAllListeners('data');
      req.removeAllListeners('end');
      tooLarge(req, res, limit);
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () =>
    done(chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)),
  );
  req.on('error', () => res.destroy());
}

function tooLarge(req: IncomingMessage, res: ServerResponse, limit: number): void {
  req.resume();
  sendJson(
    res,
    413,
    { connection: 'close' },
    errorBody('payload_too_large', `Request body is too large (the limit is ${limit} bytes)`),
  );
}
