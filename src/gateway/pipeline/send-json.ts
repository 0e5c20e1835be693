import type { ServerResponse } from 'node:http';

/** Answers with a JSON body and the given headers, straight on Node's response. */
export function sendJson(
  res: ServerResponse,
  status: number,
  headers: Record<string, string | number>,
  body: unknown,
): void {
  const text = JSON.stringify(body);
  headers['content-type'] = 'application/json; charset=utf-8';
  headers['content-length'] = Buffer.byteLength(text);
  res.writeHead(status, headers);
  res.end(text);
}
