import { Type } from '@sinclair/typebox';

/** Schemas shared by the experiment and run routes. */
export const tags = ['experiments'];
export const Tags = Type.Record(
  Type.String({ minLength: 1, maxLength: 250 }),
  Type.String({ maxLength: 5000 }),
);
export const IdParams = Type.Object({ id: Type.String({ description: 'Experiment id or name' }) });
