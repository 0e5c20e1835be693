import type { FilterNode } from './run-filter.js';

/** A WHERE fragment over `registry_runs r` with its parameters, numbered from a given start. */
export interface CompiledFilter {
  sql: string;
  params: unknown[];
}

const ATTRIBUTE_COLUMNS: Record<string, string> = {
  status: 'r.status',
  name: 'r.name',
  created_by: 'r.created_by',
};

/**
 * Compiles a parsed filter to SQL. Every name and value becomes a `$n` parameter; the only text
 * spliced in is from fixed tables (operators, columns), so no input can change the statement.
 */
export function compileFilter(node: FilterNode, firstParam: number): CompiledFilter {
  const params: unknown[] = [];
  const bind = (value: unknown) => {
    params.push(value);
    return `$${firstParam + params.length - 1}`;
  };
  const walk = (n: FilterNode): string => {
    if (n.kind !== 'compare') return `(${walk(n.left)} ${n.kind.toUpperCase()} ${walk(n.right)})`;
    const op = n.op === '!=' ? '<>' : n.op;
    switch (n.scope) {
      case 'metrics':
        return `EXISTS (SELECT 1 FROM registry_run_metrics m WHERE m.run_id = r.id AND m.key = ${bind(n.key)} AND m.value ${op} ${bind(n.value)}::double precision)`;
      case 'params': {
        const key = bind(n.key);
        const compare =
          typeof n.value === 'number'
            ? // Numeric literals compare with the numeric reading of the text: `lr = 0.01` matches "1e-2".
              `p.value_number ${op} ${bind(n.value)}::double precision`
            : `p.value ${op} ${bind(n.value)}`;
        return `EXISTS (SELECT 1 FROM registry_run_params p WHERE p.run_id = r.id AND p.key = ${key} AND ${compare})`;
      }
      case 'tags':
        return `(r.tags ->> ${bind(n.key)}) ${op} ${bind(String(n.value))}`;
      case 'attributes':
        return `${ATTRIBUTE_COLUMNS[n.key]} ${op} ${bind(String(n.value))}`;
    }
  };
  return { sql: walk(node), params };
}
