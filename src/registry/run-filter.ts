import { badRequest } from '../kernel/errors.js';

/** What a comparison in a run filter looks at. */
export type FilterScope = 'metrics' | 'params' | 'tags' | 'attributes';
/** The comparison operators a run filter accepts. */
export type FilterOperator = '=' | '!=' | '<' | '<=' | '>' | '>=';

/** A parsed run filter: comparisons joined by `and` / `or`, grouped with parentheses. */
export type FilterNode =
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | {
      kind: 'compare';
      scope: FilterScope;
      key: string;
      op: FilterOperator;
      value: number | string;
      position: number;
    };

/** Attributes of a run a filter may compare. */
export const FILTER_ATTRIBUTES = ['status', 'name', 'created_by'] as const;

type TokenKind = 'ident' | 'number' | 'string' | 'quoted' | 'op' | 'dot' | 'lparen' | 'rparen' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  position: number;
}

// Longest operators first so `<=` is not read as `<` then `=`.
const OPERATORS = ['!=', '<>', '<=', '>=', '==', '=', '<', '>'];
const SCOPES: Record<string, FilterScope> = {
  metrics: 'metrics',
  metric: 'metrics',
  params: 'params',
  param: 'params',
  tags: 'tags',
  tag: 'tags',
  attributes: 'attributes',
  attribute: 'attributes',
  attr: 'attributes',
};

/** A 400 naming the 1-based character position where the filter went wrong. */
function filterError(position: number, message: string) {
  return badRequest('invalid_filter', `filter error at position ${position + 1}: ${message}`, { position });
}

/** Splits a filter into tokens; throws 400 invalid_filter at the first character it cannot read. */
export function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === '(' || c === ')') {
      tokens.push({ kind: c === '(' ? 'lparen' : 'rparen', text: c, position: i });
      i++;
    } else if (c === '.' && !/[0-9]/.test(input[i + 1] ?? '')) {
      tokens.push({ kind: 'dot', text: '.', position: i });
      i++;
    } else if (c === "'" || c === '"' || c === '`') {
      let text = '';
      i++;
      for (;;) {
        if (i >= input.length)
          throw filterError(start, `unterminated ${c === '`' ? 'quoted name' : 'string'}`);
        if (input[i] === c) {
          if (input[i + 1] === c) {
            text += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += input[i++];
      }
      tokens.push({ kind: c === '`' ? 'quoted' : 'string', text, position: start });
    } else if (/[-+0-9.]/.test(c)) {
      const match = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(input.slice(i));
      if (!match) throw filterError(i, `unexpected character ${JSON.stringify(c)}`);
      tokens.push({ kind: 'number', text: match[0], position: i });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_\-/:]*/.exec(input.slice(i))!;
      tokens.push({ kind: 'ident', text: match[0], position: i });
      i += match[0].length;
    } else {
      const op = OPERATORS.find((o) => input.startsWith(o, i));
      if (!op) throw filterError(i, `unexpected character ${JSON.stringify(c)}`);
      tokens.push({ kind: 'op', text: op, position: i });
      i += op.length;
    }
  }
  tokens.push({ kind: 'end', text: '', position: input.length });
  return tokens;
}

/**
 * Parses a run filter such as `metrics.accuracy > 0.9 and params.learningRate = 0.01`.
 * Grammar: filter := or; or := and (OR and)*; and := primary (AND primary)*;
 * primary := '(' or ')' | scope '.' name op value. Throws 400 invalid_filter with the position.
 */
export function parseFilter(input: string): FilterNode {
  if (input.length > 4_000) throw filterError(4_000, 'the filter is longer than 4000 characters');
  const tokens = tokenize(input);
  let at = 0;
  let depth = 0;
  const peek = () => tokens[at];
  const isWord = (word: string) => peek().kind === 'ident' && peek().text.toLowerCase() === word;
  const describe = (t: Token) => (t.kind === 'end' ? 'the end of the filter' : JSON.stringify(t.text));

  const parseOr = (): FilterNode => {
    let left = parseAnd();
    while (isWord('or')) {
      at++;
      left = { kind: 'or', left, right: parseAnd() };
    }
    return left;
  };
  const parseAnd = (): FilterNode => {
    let left = parsePrimary();
    while (isWord('and')) {
      at++;
      left = { kind: 'and', left, right: parsePrimary() };
    }
    return left;
  };
  const parsePrimary = (): FilterNode => {
    const t = peek();
    if (t.kind === 'lparen') {
      // Bounded nesting: a hostile filter cannot exhaust the stack.
      if (++depth > 32) throw filterError(t.position, 'parentheses nest deeper than 32');
      at++;
      const inner = parseOr();
      if (peek().kind !== 'rparen')
        throw filterError(peek().position, `expected ")", found ${describe(peek())}`);
      at++;
      depth--;
      return inner;
    }
    return parseComparison();
  };
  const parseComparison = (): FilterNode => {
    const t = peek();
    const scope = t.kind === 'ident' ? SCOPES[t.text.toLowerCase()] : undefined;
    if (!scope) {
      throw filterError(
        t.position,
        `expected metrics.<name>, params.<name>, tags.<name>, attributes.<name> or "(", found ${describe(t)}`,
      );
    }
    at++;
    if (peek().kind !== 'dot')
      throw filterError(peek().position, `expected "." after ${t.text}, found ${describe(peek())}`);
    at++;
    const key = parseName();
    if (scope === 'attributes' && !(FILTER_ATTRIBUTES as readonly string[]).includes(key)) {
      throw filterError(t.position, `unknown attribute ${key}; known: ${FILTER_ATTRIBUTES.join(', ')}`);
    }
    const opToken = peek();
    if (opToken.kind !== 'op')
      throw filterError(opToken.position, `expected a comparison operator, found ${describe(opToken)}`);
    at++;
    const op = (opToken.text === '==' ? '=' : opToken.text === '<>' ? '!=' : opToken.text) as FilterOperator;
    const v = peek();
    if (v.kind !== 'number' && v.kind !== 'string') {
      throw filterError(v.position, `expected a number or a quoted string, found ${describe(v)}`);
    }
    at++;
    const value = v.kind === 'number' ? Number(v.text) : v.text;
    if (typeof value === 'number' && !Number.isFinite(value))
      throw filterError(v.position, `${v.text} is not a finite number`);
    if (scope === 'metrics' && typeof value !== 'number') {
      throw filterError(v.position, `metrics compare with numbers; ${describe(v)} is a string`);
    }
    if (typeof value === 'string' && op !== '=' && op !== '!=') {
      throw filterError(opToken.position, `strings compare only with = and !=, not ${opToken.text}`);
    }
    return { kind: 'compare', scope, key, op, value, position: t.position };
  };
  const parseName = (): string => {
    const t = peek();
    if (t.kind === 'quoted') {
      at++;
      if (t.text === '') throw filterError(t.position, 'a quoted name must not be empty');
      return t.text;
    }
    if (t.kind !== 'ident') throw filterError(t.position, `expected a name, found ${describe(t)}`);
    at++;
    let name = t.text;
    while (peek().kind === 'dot' && tokens[at + 1]?.kind === 'ident') {
      name += `.${tokens[at + 1].text}`;
      at += 2;
    }
    return name;
  };

  if (peek().kind === 'end') throw filterError(0, 'the filter is empty');
  const tree = parseOr();
  if (peek().kind !== 'end') {
    throw filterError(
      peek().position,
      `expected "and", "or" or the end of the filter, found ${describe(peek())}`,
    );
  }
  return tree;
}
