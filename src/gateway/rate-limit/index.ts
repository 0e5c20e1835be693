export { RateLimitConfig, RateLimitRule } from './config.js';
export { enforceRateLimit, rateLimitedError, rateLimitHeaders } from './rate-limit-headers.js';
export { RateLimiter, rateLimitSubject } from './rate-limiter.js';
export { compileRoutePattern } from './route-pattern.js';
export { TokenQuota } from './token-quota.js';
