import { type Static, Type } from '@sinclair/typebox';

/** One promotion rule; every rule that applies to the alias must pass. */
export const PromotionRule = Type.Object(
  {
    metric: Type.String({
      minLength: 1,
      description: 'Metric of the version the rule reads, e.g. accuracy.',
    }),
    greaterThan: Type.Optional(
      Type.Number({ description: 'The metric must be strictly greater than this.' }),
    ),
    improvesBy: Type.Optional(
      Type.Number({
        minimum: 0,
        description: 'The metric must beat the current alias holder by more than this (no holder: passes).',
      }),
    ),
    aliases: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: 'Aliases the rule applies to; absent = every alias.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type PromotionRule = Static<typeof PromotionRule>;

/** The `registry:` section of the configuration. */
export const RegistryConfig = Type.Object(
  {
    promotion: Type.Object(
      {
        rules: Type.Array(PromotionRule, {
          // MISSION.md: a model reaches production only above 95 % accuracy.
          default: [{ metric: 'accuracy', greaterThan: 0.95 }],
          description: 'Rules a version must pass to get an alias.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    models: Type.Object(
      {
        maxFileBytes: Type.Integer({
          minimum: 1,
          default: 512 * 1024 * 1024,
          description:
            'Largest model file accepted by an upload (each file of a TF.js model counts alone; the body is held in memory while it is stored).',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
    datasets: Type.Object(
      {
        maxBytes: Type.Integer({
          minimum: 1,
          default: 50 * 1024 * 1024,
          description: 'Largest CSV accepted (the HTTP body limit, server.bodyLimitBytes, applies too).',
        }),
        maxColumns: Type.Integer({ minimum: 1, default: 1_000, description: 'Most columns a CSV may have.' }),
        maxRows: Type.Integer({
          minimum: 1,
          default: 1_000_000,
          description: 'Most data rows a CSV may have.',
        }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { default: {}, additionalProperties: false },
);
export type RegistryConfig = Static<typeof RegistryConfig>;
