/**
 * The one form of a request path that the router, the rate limiter, the access rules and the
 * events all see, made once as the request arrives:
 *
 * - percent-encoded unreserved characters (letters, digits, `-._~`) decoded (`/%761` is `/v1`),
 *   every other escape kept, its hex in upper case;
 * - repeated slashes made one;
 * - dot segments (`.`, `..`, also when encoded) removed as RFC 3986 §5.2.4 says.
 *
 * Undefined for an ambiguous path, which is refused rather than guessed at: an encoded `/` or
 * `\` (one segment to some readers, two to others), an encoded NUL or other control character,
 * or a `%` not followed by two hex digits.
 */
export function canonicalPath(path: string): string | undefined {
  if (path.length === 0 || path.charCodeAt(0) !== SLASH) return path;
  if (!needsWork(path)) return path;
  let decoded = '';
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c !== PERCENT) {
      decoded += path[i];
      continue;
    }
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) return undefined;
    const byte = hi * 16 + lo;
    if (byte === SLASH || byte === BACKSLASH || byte < 0x20 || byte === 0x7f) return undefined;
    decoded += isUnreserved(byte) ? String.fromCharCode(byte) : `%${HEX[hi]}${HEX[lo]}`;
    i += 2;
  }
  return removeDotSegments(decoded.replace(/\/{2,}/g, '/'));
}

/** `url` (path and query) with its path made canonical; undefined when the path is ambiguous. */
export function canonicalUrl(url: string): string | undefined {
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  const canonical = canonicalPath(path);
  if (canonical === undefined) return undefined;
  if (canonical === path) return url;
  return query < 0 ? canonical : canonical + url.slice(query);
}

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;
const DOT = 0x2e;
const HEX = '0123456789ABCDEF';

/** True when the path has an escape, a repeated slash or a segment starting with a dot. */
function needsWork(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === PERCENT) return true;
    if (c === SLASH && i + 1 < path.length) {
      const next = path.charCodeAt(i + 1);
      if (next === SLASH || next === DOT) return true;
    }
  }
  return false;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) ||
    (byte >= 0x61 && byte <= 0x7a) ||
    (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x2d ||
    byte === DOT ||
    byte === 0x5f ||
    byte === 0x7e
  );
}

/** RFC 3986 §5.2.4 on an absolute path: `.` segments dropped, `..` removes the one before (never above the root). */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is the empty string before the leading slash.
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i];
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      // A path ending in a dot segment names a directory: keep its trailing slash.
      if (last) out.push('');
      continue;
    }
    out.push(segment);
  }
  return `/${out.join('/')}`;
}
