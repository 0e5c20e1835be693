export { assertAdmin, bearerToken, secretsEqual } from './admin-token.js';
export { AccessRule, AuthConfig, JwtConfig } from './config.js';
export type { AccessPolicy, Authenticator, Principal } from './principal.js';
