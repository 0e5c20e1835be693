import { type Static, Type } from '@sinclair/typebox';

/** One model the gateway may choose, with what it costs and how good it is. */
export const CatalogueModel = Type.Object(
  {
    id: Type.String({ minLength: 1, description: 'Model id, sent upstream as X-Model-Id.' }),
    version: Type.String({
      default: '',
      description:
        "Version, sent upstream as X-Model-Version; '' leaves it to the model server (its production alias or latest).",
    }),
    type: Type.String({ minLength: 1, description: "What callers ask for (e.g. 'sentiment', 'chat')." }),
    upstream: Type.String({
      minLength: 1,
      description: 'Service name (through discovery) or URL that serves it.',
    }),
    accuracy: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0,
      description: 'Accuracy in [0, 1]; the registry’s figure replaces it when it has one.',
    }),
    costPerCall: Type.Number({ minimum: 0, default: 0, description: 'Price of one call.' }),
    costPer1kTokens: Type.Number({ minimum: 0, default: 0, description: 'Price of 1000 tokens.' }),
    costPerHour: Type.Number({
      minimum: 0,
      default: 0,
      description: 'Fixed price of the instances serving it, spread over the observed throughput.',
    }),
    tokensPerCall: Type.Number({
      minimum: 0,
      default: 0,
      description: 'Expected tokens per call until traffic has been observed.',
    }),
    latencyMs: Type.Number({
      minimum: 0,
      default: 100,
      description: 'Expected latency until traffic has been observed.',
    }),
    throughput: Type.Number({
      exclusiveMinimum: 0,
      default: 1,
      description:
        'Expected calls per second until traffic has been observed; the floor of the observed figure.',
    }),
  },
  { additionalProperties: false },
);

/** The gateway's `models` section: the catalogue model selection chooses from. */
export const ModelsConfig = Type.Object(
  {
    catalogue: Type.Array(CatalogueModel, { default: [], description: 'Models per type.' }),
    latencyAlpha: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.2,
      description: 'Weight of the newest sample in the latency EWMA.',
    }),
    throughputWindowMs: Type.Integer({
      minimum: 100,
      default: 10_000,
      description: 'Window over which throughput is counted.',
    }),
  },
  { default: {}, additionalProperties: false },
);
export type ModelsConfig = Static<typeof ModelsConfig>;
export type CatalogueModel = Static<typeof CatalogueModel>;
