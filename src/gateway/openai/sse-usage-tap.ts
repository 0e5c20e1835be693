import { Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

// A usage line is short; anything longer without a newline is not one we need to read.
const MAX_CARRY = 64 * 1024;

/**
 * A pass-through for an OpenAI server-sent-event stream that forwards every chunk at once and,
 * on the side, reads the `usage.total_tokens` of the chunk that carries it (sent last when the
 * request asks for `stream_options.include_usage`). Only lines mentioning `total_tokens` are
 * parsed, so the cost per chunk is one substring search.
 */
export class SseUsageTap extends Transform {
  /** The total tokens reported by the stream, once seen. */
  totalTokens: number | undefined;
  private carry = '';
  // Keeps a character split across chunks whole, so the text scanned is the text sent.
  private readonly decoder = new StringDecoder('utf8');

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const text = this.carry + this.decoder.write(chunk);
    const lastNewline = text.lastIndexOf('\n');
    const complete = lastNewline === -1 ? '' : text.slice(0, lastNewline);
    this.carry = lastNewline === -1 ? text : text.slice(lastNewline + 1);
    if (this.carry.length > MAX_CARRY) this.carry = '';
    if (complete.includes('total_tokens')) this.readUsage(complete);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.carry.includes('total_tokens')) this.readUsage(this.carry);
    callback();
  }

  private readUsage(lines: string): void {
    for (const line of lines.split('\n')) {
      if (!line.startsWith('data:') || !line.includes('total_tokens')) continue;
      try {
        const usage = (JSON.parse(line.slice(5)) as { usage?: { total_tokens?: unknown } }).usage;
        if (typeof usage?.total_tokens === 'number') this.totalTokens = usage.total_tokens;
      } catch {
        // A line that is not JSON is the upstream's business; the caller gets it untouched.
      }
    }
  }
}
