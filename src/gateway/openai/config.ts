import { type Static, Type } from '@sinclair/typebox';

/** An OpenAI-compatible server (vLLM, Ollama, a provider). */
export const OpenAiUpstream = Type.Object(
  {
    name: Type.String({ minLength: 1, description: 'Name the models refer to.' }),
    baseUrl: Type.String({ description: 'Base URL including /v1, e.g. http://127.0.0.1:8000/v1.' }),
    apiKey: Type.Optional(Type.String({ description: 'Sent upstream as the bearer token.' })),
  },
  { additionalProperties: false },
);

/** A model callers name, where it is served, and what to try when that fails. */
export const OpenAiModel = Type.Object(
  {
    id: Type.String({ minLength: 1, description: 'Model name callers use.' }),
    type: Type.Union([Type.Literal('chat'), Type.Literal('embedding')], {
      default: 'chat',
      description: 'What it serves; access rules can match it as type:chat / type:embedding.',
    }),
    upstream: Type.String({ minLength: 1, description: 'Name of an entry in upstreams.' }),
    upstreamModel: Type.Optional(
      Type.String({ description: 'Model name upstream, when it differs from id.' }),
    ),
    fallbacks: Type.Array(Type.String(), {
      default: [],
      description: 'Model ids tried in order when this one fails (connect error, 429 or 5xx).',
    }),
  },
  { additionalProperties: false },
);

/** The gateway's `openai` section: the OpenAI-compatible front at /v1. */
export const OpenAiConfig = Type.Object(
  {
    enabled: Type.Boolean({
      default: true,
      description: 'Serve /v1/chat/completions, /v1/embeddings, /v1/models.',
    }),
    upstreams: Type.Array(OpenAiUpstream, { default: [] }),
    models: Type.Array(OpenAiModel, { default: [] }),
    policy: Type.String({
      default: 'default',
      description:
        "Named resilience policy of the upstreams' circuit breakers (gateway.resilience.policies).",
    }),
  },
  { default: {}, additionalProperties: false },
);
export type OpenAiConfig = Static<typeof OpenAiConfig>;
export type OpenAiModel = Static<typeof OpenAiModel>;
export type OpenAiUpstream = Static<typeof OpenAiUpstream>;
