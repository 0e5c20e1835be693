/** A compiled model pattern: a glob on the model id, or `type:<glob>` on the model type. */
export interface ModelPattern {
  source: string;
  matches(model: { id: string; type: string }): boolean;
}

/** Compiles a glob where `*` is any run of characters and `?` one character; nothing else is special. */
export function compileGlob(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** Compiles `gpt-4*` (model id) or `type:embedding` / `type:chat*` (model type). */
export function compileModelPattern(source: string): ModelPattern {
  const byType = source.startsWith('type:');
  const regex = compileGlob(byType ? source.slice('type:'.length) : source);
  return {
    source,
    matches: byType ? (m) => regex.test(m.type) : (m) => regex.test(m.id),
  };
}
