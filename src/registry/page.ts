import { Type } from '@sinclair/typebox';
import { SafeInteger } from '../kernel/input-schemas.js';

/** Offset pagination as every registry list takes it. */
export interface Page {
  limit: number;
  offset: number;
}

/** The querystring of every list endpoint. */
export const PageQuery = {
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'Items per page.' }),
  offset: SafeInteger({
    minimum: 0,
    default: 0,
    description: 'Items to skip (the `nextOffset` of the previous page).',
  }),
};

/** A page of items with the offset of the next page, or null when this one is the last. */
export function paged<T>(items: T[], page: Page): { items: T[]; nextOffset: number | null } {
  return { items, nextOffset: items.length === page.limit ? page.offset + page.limit : null };
}
