import { type Static, Type } from '@sinclair/typebox';

const JwtAlgorithm = Type.Union(
  ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'].map((a) =>
    Type.Literal(a),
  ),
);

/** One access rule: whom it applies to, and the model patterns it allows and denies. */
export const AccessRule = Type.Object(
  {
    user: Type.Optional(Type.String({ description: "Principal id this rule applies to ('*' = everyone)." })),
    team: Type.Optional(Type.String({ description: 'Team this rule applies to.' })),
    allow: Type.Array(Type.String(), {
      default: [],
      description: "Model id globs, or 'type:<glob>' for model types, this principal may use.",
    }),
    deny: Type.Array(Type.String(), {
      default: [],
      description: 'Model id / type globs this principal may not use; deny wins over allow.',
    }),
  },
  { additionalProperties: false },
);

/** JSON Web Token verification (jose). */
export const JwtConfig = Type.Object(
  {
    algorithms: Type.Array(JwtAlgorithm, {
      minItems: 1,
      default: ['RS256', 'ES256'],
      description: 'Accepted signing algorithms (an allow-list; `none` is never accepted).',
    }),
    secret: Type.Optional(
      Type.String({ minLength: 32, description: 'Shared secret for HS* tokens (at least 32 characters).' }),
    ),
    jwksUrl: Type.Optional(
      Type.String({ description: 'URL of a JWKS with the public keys for RS*/PS*/ES* tokens.' }),
    ),
    jwksFile: Type.Optional(Type.String({ description: 'Path of a JWKS file, instead of jwksUrl.' })),
    issuer: Type.Optional(Type.String({ description: 'Required `iss` claim.' })),
    audience: Type.Optional(Type.String({ description: 'Required `aud` claim.' })),
    teamClaim: Type.String({ default: 'team', description: 'Claim that names the caller’s team.' }),
    rolesClaim: Type.String({
      default: 'roles',
      description:
        'Claim that lists the caller’s roles (caller, operator, service, admin); a token naming none is a caller.',
    }),
    clockToleranceSeconds: Type.Integer({
      minimum: 0,
      default: 30,
      description: 'Leeway for `exp` and `nbf`.',
    }),
  },
  { additionalProperties: false },
);

/** The gateway's `auth` section: admin token, API-key cache, JWT verification, model access rules. */
export const AuthConfig = Type.Object(
  {
    adminToken: Type.Optional(
      Type.String({
        minLength: 16,
        description:
          'Bearer token of the `admin` principal, for every API (env AIMESH_GATEWAY__AUTH__ADMIN_TOKEN); unset: generated at first start into server.adminTokenFile.',
      }),
    ),
    serviceToken: Type.Optional(
      Type.String({
        minLength: 16,
        description:
          'Bearer token of the `service` principal, with which platform processes call each other (env AIMESH_GATEWAY__AUTH__SERVICE_TOKEN); needed by every process of a multi-process cluster.',
      }),
    ),
    required: Type.Boolean({
      default: true,
      description: 'Reject gateway calls that carry no credentials (401 missing_credentials).',
    }),
    apiKeys: Type.Object(
      {
        cacheTtlMs: Type.Integer({
          minimum: 0,
          default: 5_000,
          description:
            'How long a looked-up key is trusted from memory; a revocation reaches other processes within this time.',
        }),
        staleIfErrorMs: Type.Integer({
          minimum: 0,
          default: 60_000,
          description:
            'While the database is unreachable, keys verified before keep working this long past cacheTtlMs (and the gateway stays ready); new keys answer 503.',
        }),
        cacheSize: Type.Integer({ minimum: 1, default: 10_000, description: 'Most keys held in memory.' }),
      },
      { default: {}, additionalProperties: false },
    ),
    jwt: Type.Optional(JwtConfig),
    access: Type.Object(
      {
        defaultPolicy: Type.Union([Type.Literal('allow'), Type.Literal('deny')], {
          default: 'allow',
          description: 'What a principal with no matching allow rule may use.',
        }),
        rules: Type.Array(AccessRule, { default: [], description: 'Per-user / per-team model rules.' }),
      },
      { default: {}, additionalProperties: false },
    ),
  },
  { default: {}, additionalProperties: false },
);
export type AuthConfig = Static<typeof AuthConfig>;
export type JwtConfig = Static<typeof JwtConfig>;
export type AccessRule = Static<typeof AccessRule>;
