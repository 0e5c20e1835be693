/**
 * Compiles a path glob: `*` matches one path segment, `**` any number of segments (also none),
 * so `/api/v1/ai/**` matches `/api/v1/ai` and everything under it. The query string is not part
 * of the match.
 */
export function compileRoutePattern(pattern: string): (path: string) => boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*' && pattern[i + 1] === '*') {
      // `/**` at a segment boundary also matches the bare prefix.
      if (source.endsWith('/')) source = `${source.slice(0, -1)}(?:/.*)?`;
      else source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else source += c.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  const regex = new RegExp(`^${source}$`);
  return (path) => {
    const q = path.indexOf('?');
    return regex.test(q === -1 ? path : path.slice(0, q));
  };
}
