export { OpenAiConfig, OpenAiModel, OpenAiUpstream } from './config.js';
export { OpenAiCatalogue, type OpenAiRoute } from './openai-catalogue.js';
export { forwardWithFallbacks } from './openai-forwarder.js';
export { type OpenAiCallOutcome, type OpenAiRoutesDeps, openAiRoutes } from './openai-routes.js';
