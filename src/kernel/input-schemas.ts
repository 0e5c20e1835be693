import { type IntegerOptions, type StringOptions, Type } from '@sinclair/typebox';

/** The largest value of a PostgreSQL INTEGER (int4) column, e.g. a model version number. */
export const INT4_MAX = 2_147_483_647;

/**
 * An integer a JavaScript number holds exactly, within ±(2^53 − 1): what a BIGINT column reads back
 * as (the database port parses int8 to numbers). Narrow it with `maximum` for an INTEGER column.
 */
export function SafeInteger(options: IntegerOptions = {}) {
  return Type.Integer({ minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER, ...options });
}

/**
 * A string with a length bound (default 1024 characters), for ids and names that end up in an
 * indexed column. NUL and lone surrogates are refused for every string by the HTTP server itself.
 */
export function SafeString(options: StringOptions = {}) {
  return Type.String({ maxLength: 1024, ...options });
}
