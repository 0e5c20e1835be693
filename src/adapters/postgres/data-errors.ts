import { type AimeshError, badRequest } from '../../kernel/errors.js';

// SQLSTATE class 22 (data exception) and the size limits of class 54: the value sent cannot be
// stored, whatever the server's state, so the caller is told so (400), not an operator (500).
const CODES: Record<string, string> = {
  '22021': 'invalid_character', // character_not_in_repertoire: NUL or bytes that are not UTF-8
  '22P05': 'invalid_character', // untranslatable_character: \u0000 in jsonb
  '22003': 'number_out_of_range', // numeric_value_out_of_range
  '22001': 'value_too_long', // string_data_right_truncation
  '54000': 'value_too_large', // program_limit_exceeded: e.g. an index row over its page limit
  '54001': 'value_too_large', // statement_too_complex: e.g. nesting past the stack depth limit
};

/**
 * The 400 for an error PostgreSQL raised over a value it cannot store (NUL, a number beyond the
 * column's range, a malformed time ...), or undefined when `error` is not one. The same contract
 * on PGlite and on a server: input checks upstream make this rare; this is the last line.
 */
export function dataError(error: unknown): AimeshError | undefined {
  const e = error as { code?: unknown; message?: unknown };
  if (typeof e?.code !== 'string') return undefined;
  const code = CODES[e.code] ?? (e.code.startsWith('22') ? 'invalid_value' : undefined);
  if (!code) return undefined;
  const detail = typeof e.message === 'string' ? e.message.slice(0, 300) : e.code;
  return badRequest(code, `a value in the request cannot be stored: ${detail}`);
}
