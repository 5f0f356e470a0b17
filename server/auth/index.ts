import type { ApolloServerOptions, ApolloServerPlugin } from '@apollo/server';
import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { Context } from '../context.ts';
import type { ExplorerMode } from '../explorer/index.ts';
import { ApiKeys, type ApiKeyEntry } from './api-keys.ts';
import { AuditTrail, auditLogging, type RequestAuth } from './audit.ts';
import { authentication, principalOf, tokenAuthenticator, type TokenAuthenticator } from './authenticate.ts';
import { enforceScopes } from './enforce.ts';
import { corsPolicy, documentSizeLimit, httpErrors, securityHeaders } from './http.ts';
import { JwtVerifier, type JwtOptions } from './jwt.ts';
import { DEFAULT_LIMITS, operationCheck, operationLimitsPlugin, type Limits, type OperationCheck } from './limits.ts';
import { allowListGate, manifestCache, type PersistedQueryManifest, type PersistedQueryMode } from './persisted.ts';
import { CostLimiter } from './rate-limit.ts';
import { DEVELOPMENT_ANONYMOUS_SCOPES, type RateLimitPolicy, type Scope } from './scopes.ts';

export type { RequestAuth } from './audit.ts';

/** Everything about who may call and how much; server/auth/settings.ts builds it from the environment. */
export interface SecurityOptions {
  readonly apiKeys: readonly ApiKeyEntry[];
  readonly jwt: JwtOptions | null;
  /** Scopes of requests without credentials; null: they are refused (always so in production). */
  readonly anonymousScopes: readonly Scope[] | null;
  readonly limits: Limits;
  /** The default per-client budget; null turns rate limiting off. */
  readonly rateLimit: RateLimitPolicy | null;
  readonly redisUrl?: string;
  /** Browser origins allowed by CORS. */
  readonly corsOrigins: readonly string[];
  readonly persistedQueries: PersistedQueryMode;
  /** Required in `allowlist` mode. */
  readonly manifest?: PersistedQueryManifest;
  /** The explorer page of GET /graphql (server/explorer). */
  readonly explorer: ExplorerMode;
  /** Hide field suggestions ("Did you mean ...?") from validation errors. */
  readonly hideSchemaDetails: boolean;
}

export const DEFAULT_RATE_LIMIT: RateLimitPolicy = { costPerSecond: 1000, burst: 20_000 };

/** The policy of a server started without security settings (tests, embedding): production or not. */
export function securityDefaults(production: boolean): SecurityOptions {
  return {
    apiKeys: [],
    jwt: null,
    anonymousScopes: production ? null : DEVELOPMENT_ANONYMOUS_SCOPES,
    limits: DEFAULT_LIMITS,
    rateLimit: DEFAULT_RATE_LIMIT,
    corsOrigins: production ? [] : ['https://studio.apollographql.com'],
    persistedQueries: 'apq',
    explorer: production ? 'none' : 'sandbox',
    hideSchemaDetails: production,
  };
}

export interface Security {
  /** App-level middleware, first: security headers and CORS on every response. */
  readonly headers: RequestHandler[];
  /** /graphql middleware after the body parser: document size, authentication, allow-list. */
  readonly graphql: RequestHandler[];
  /** App-level error handler, last. */
  readonly errors: ErrorRequestHandler;
  /** Apollo Server options this policy sets. */
  readonly apollo: Pick<
    ApolloServerOptions<Context>,
    'persistedQueries' | 'parseOptions' | 'introspection' | 'hideSchemaDetailsFromClientErrors' | 'maxRecursiveSelections' | 'csrfPrevention' | 'allowBatchedHttpRequests'
  >;
  /** Limits, rate limiting and the audit line, to run before the argument checks. */
  readonly plugins: ApolloServerPlugin<Context>[];
  readonly explorer: ExplorerMode;
  /** The schema with every declared policy enforced on its resolvers. */
  protect(schema: GraphQLSchema): GraphQLSchema;
  /** The request's `auth` context. */
  context(res: Response): RequestAuth;
  /** The operation check of /graphql (limits.ts): what the front of Apollo runs as the pipeline would (server/front.ts). */
  readonly check: OperationCheck;
  /** What the subscription transports (server/subscriptions) check as /graphql does: credentials, then each operation's limits. */
  readonly subscriptions: { readonly authenticate: TokenAuthenticator; readonly check: OperationCheck; readonly limits: Limits };
}

/**
 * The security layer of the HTTP server: authentication (API keys, JWTs), scope enforcement in
 * the schema, operation limits, per-client rate limits, persisted queries, CORS, headers, audit.
 */
export function createSecurity(options: SecurityOptions, logger: Logger): Security {
  if (options.persistedQueries === 'allowlist' && !options.manifest) throw new Error('allowlist mode needs a persisted query manifest');
  const limiter = options.rateLimit ? new CostLimiter({ defaults: options.rateLimit, redisUrl: options.redisUrl, logger }) : null;
  const authenticateToken = tokenAuthenticator({
    apiKeys: new ApiKeys(options.apiKeys),
    jwt: options.jwt && new JwtVerifier(options.jwt),
    anonymousScopes: options.anonymousScopes,
    logger,
  });
  const authenticate = authentication(authenticateToken, { sandboxPage: options.explorer === 'sandbox' });
  // One check for every transport, so a document is planned once.
  const check = operationCheck(options.limits, limiter);
  return {
    headers: [...securityHeaders({ explorer: options.explorer }), corsPolicy(options.corsOrigins)],
    graphql: [documentSizeLimit(options.limits.maxDocumentBytes), authenticate, ...(options.persistedQueries === 'allowlist' ? [allowListGate(options.manifest!)] : [])],
    errors: httpErrors(logger),
    apollo: {
      persistedQueries: options.persistedQueries === 'off' ? false : options.persistedQueries === 'allowlist' ? { cache: manifestCache(options.manifest!) } : {},
      parseOptions: { maxTokens: options.limits.maxTokens },
      // Introspection is decided per caller (segments:read or admin) by the limits plugin.
      introspection: true,
      hideSchemaDetailsFromClientErrors: options.hideSchemaDetails,
      maxRecursiveSelections: true,
      csrfPrevention: true,
      allowBatchedHttpRequests: false,
    },
    plugins: [
      operationLimitsPlugin(check),
      auditLogging(),
      {
        async serverWillStart() {
          await limiter?.ready();
          return { serverWillStop: async () => void (await limiter?.close()) };
        },
      },
    ],
    explorer: options.explorer,
    protect: enforceScopes,
    context: (res) => {
      const principal = principalOf(res);
      return { principal, audit: new AuditTrail(), ...(limiter && { spend: (cost: number) => limiter.consume(principal, Math.max(1, Math.ceil(cost))) }) };
    },
    check,
    subscriptions: { authenticate: authenticateToken, check, limits: options.limits },
  };
}
