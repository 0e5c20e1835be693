import { badRequest } from '../kernel/errors.js';
import type { Page } from './page.js';
import { type FilterNode, parseFilter } from './run-filter.js';
import { compileFilter } from './run-filter-sql.js';

/** A run search: experiments, an optional filter, order and page. */
export interface RunSearch {
  experimentIds: string[];
  filter?: string;
  /** e.g. `metrics.accuracy DESC`, `attributes.start_time`, `params.lr ASC`. */
  orderBy?: string[];
  /** Only runs this principal created (a caller searching sees only its own). */
  createdBy?: string;
  page: Page;
}

type Compare = Extract<FilterNode, { kind: 'compare' }>;
interface Order {
  scope: 'metrics' | 'params' | 'attributes';
  key: string;
  direction: 'ASC' | 'DESC';
}

const ORDER_ATTRIBUTES: Record<string, string> = {
  start_time: 'r.start_time',
  end_time: 'r.end_time',
  name: 'r.name',
  status: 'r.status',
};

function parseOrder(clause: string): Order {
  const match = /^\s*(metrics|params|attributes)\.(\S+?)\s*(?:\s(asc|desc))?\s*$/i.exec(clause);
  if (!match) {
    throw badRequest(
      'invalid_order',
      `cannot order by "${clause}"; use metrics.<name>, params.<name> or attributes.<name>, then ASC or DESC`,
    );
  }
  const scope = match[1].toLowerCase() as Order['scope'];
  if (scope === 'attributes' && !ORDER_ATTRIBUTES[match[2]]) {
    throw badRequest(
      'invalid_order',
      `cannot order by attribute ${match[2]}; known: ${Object.keys(ORDER_ATTRIBUTES).join(', ')}`,
    );
  }
  return { scope, key: match[2], direction: match[3]?.toUpperCase() === 'ASC' ? 'ASC' : 'DESC' };
}

function conjuncts(node: FilterNode | undefined): FilterNode[] {
  if (!node) return [];
  return node.kind === 'and' ? [...conjuncts(node.left), ...conjuncts(node.right)] : [node];
}

function conjoin(nodes: FilterNode[]): FilterNode | undefined {
  return nodes.reduce<FilterNode | undefined>(
    (left, right) => (left ? { kind: 'and', left, right } : right),
    undefined,
  );
}

/** True when a search can try the newest-runs window first: one experiment, a filter, newest first. */
export function windowable(search: RunSearch): boolean {
  return (
    search.experimentIds.length === 1 && Boolean(search.filter?.trim()) && (search.orderBy ?? []).length === 0
  );
}

/**
 * The SQL of a run search (ids of matching runs, ordered and paged). When the first order key
 * is a metric the filter also bounds (`metrics.accuracy > 0.9` ordered by accuracy), that
 * comparison moves onto an inner join, so Postgres can walk the (key, value) index in order and
 * stop after one page instead of sorting every match.
 */
export function runSearchQuery(search: RunSearch, window?: number): { text: string; params: unknown[] } {
  const orders = (search.orderBy ?? []).map(parseOrder);
  const filter = search.filter?.trim() ? parseFilter(search.filter) : undefined;
  let rest = conjuncts(filter);
  const first = orders[0];
  const driving =
    first?.scope === 'metrics'
      ? rest.filter(
          (c): c is Compare =>
            c.kind === 'compare' && c.scope === 'metrics' && c.key === first.key && c.op !== '!=',
        )
      : [];
  rest = rest.filter((c) => !driving.includes(c as Compare));

  const params: unknown[] = [search.experimentIds];
  const bind = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where = ['r.experiment_id = ANY($1::text[])'];
  if (search.createdBy !== undefined) where.push(`r.created_by = ${bind(search.createdBy)}`);
  const joins: string[] = [];
  const order: string[] = [];
  orders.forEach((o, i) => {
    if (o.scope === 'attributes') {
      order.push(`${ORDER_ATTRIBUTES[o.key]} ${o.direction}`);
      return;
    }
    if (i === 0 && driving.length > 0) {
      joins.push(`JOIN registry_run_metrics o0 ON o0.run_id = r.id AND o0.key = ${bind(o.key)}`);
      for (const d of driving) where.push(`o0.value ${d.op} ${bind(d.value)}::double precision`);
      order.push(`o0.value ${o.direction}`);
      return;
    }
    const table = o.scope === 'metrics' ? 'registry_run_metrics' : 'registry_run_params';
    joins.push(`LEFT JOIN ${table} o${i} ON o${i}.run_id = r.id AND o${i}.key = ${bind(o.key)}`);
    // Params order by their numeric reading first, so "10" sorts after "9".
    if (o.scope === 'params') order.push(`o${i}.value_number ${o.direction} NULLS LAST`);
    order.push(`o${i}.value ${o.direction} NULLS LAST`);
  });
  const remaining = conjoin(rest);
  if (remaining) {
    const compiled = compileFilter(remaining, params.length + 1);
    where.push(compiled.sql);
    params.push(...compiled.params);
  }
  order.push('r.start_time DESC', 'r.id DESC');
  const limit = bind(search.page.limit);
  const offset = bind(search.page.offset);
  // A window reads only the newest `window` runs of one experiment, in index order.
  const from =
    window === undefined
      ? 'registry_runs r'
      : `(SELECT * FROM registry_runs WHERE experiment_id = ($1::text[])[1]
          ORDER BY start_time DESC, id DESC LIMIT ${bind(window)}) r`;
  return {
    text: `SELECT r.* FROM ${from} ${joins.join(' ')} WHERE ${where.join(' AND ')}
      ORDER BY ${order.join(', ')} LIMIT ${limit} OFFSET ${offset}`,
    params,
  };
}
