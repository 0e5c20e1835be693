export { OpenAiConfig, OpenAiModel, OpenAiUpstream } from './config.js';
export { OpenAiCatalogue, type OpenAiRoute } from './openai-catalogue.js';
export { OpenAiFront, type OpenAiFrontDeps } from './openai-front.js';
export { type OpenAiRoutesDeps, openAiFront } from './openai-routes.js';
