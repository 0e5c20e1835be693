import type { ChunkTap } from '../proxy/upstream-client.js';

/**
 * Reads `"total_tokens":<n>` from a relayed body as it passes: the usage an OpenAI answer
 * reports (at its end, or in a stream's last event), without parsing the answer. A key or number
 * cut at a chunk's end is read again with the tail carried over; the last one seen counts. In
 * JSON a quoted key can only be a key, as quotes inside strings are escaped.
 */
export class TokenUsageReader implements ChunkTap {
  /** The total tokens reported, once seen. */
  totalTokens: number | undefined;
  private carry: Buffer | undefined;

  tapped(chunk: Buffer): void {
    const text = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    const at = text.lastIndexOf(TOTAL_TOKENS);
    if (at >= 0) {
      const tokens = readCount(text, at + TOTAL_TOKENS.length);
      if (tokens !== undefined) this.totalTokens = tokens;
    }
    this.carry = text.length > CARRY ? text.subarray(text.length - CARRY) : text;
  }
}

const TOTAL_TOKENS = Buffer.from('"total_tokens"');
// Enough to hold a key and its number cut off at a chunk's end.
const CARRY = 48;

/** The integer after `"total_tokens"`, past a colon and spaces; undefined when none is whole there yet. */
function readCount(text: Buffer, from: number): number | undefined {
  let i = from;
  while (i < text.length && (text[i] === 0x20 || text[i] === 0x09)) i++;
  if (text[i] !== 0x3a) return undefined;
  i++;
  while (i < text.length && (text[i] === 0x20 || text[i] === 0x09)) i++;
  let value = 0;
  let digits = 0;
  for (; i < text.length && text[i] >= 0x30 && text[i] <= 0x39; i++, digits++)
    value = value * 10 + text[i] - 0x30;
  // A number at the very end may go on in the next chunk: read it again then.
  if (digits === 0 || i === text.length) return undefined;
  return value;
}
