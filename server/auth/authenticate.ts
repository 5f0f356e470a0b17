import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { ErrorCode } from '../../resolvers/errors.ts';
import { API_KEY_PREFIX, type ApiKeys } from './api-keys.ts';
import type { JwtVerifier } from './jwt.ts';
import type { Principal, Scope } from './scopes.ts';

export interface AuthenticationOptions {
  readonly apiKeys: ApiKeys;
  readonly jwt: JwtVerifier | null;
  /** Scopes of a request without credentials; null (production) answers it 401. */
  readonly anonymousScopes: readonly Scope[] | null;
  readonly logger: Logger;
}

/** The principal the authentication middleware found for this request. */
export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  // The middleware runs before Apollo on every /graphql request; no principal is a wiring bug.
  if (!principal) throw new Error('no principal: the authentication middleware did not run');
  return principal;
}

/** Why a bearer token (or its absence) was refused: the HTTP status, the client's message, whether a token was given. */
export interface AuthenticationFailure {
  readonly status: 401 | 503;
  readonly message: string;
  readonly tokenGiven: boolean;
}

/**
 * The principal of an `Authorization` header value, or why there is none: a `Bearer` API key
 * (`c360_...`) or JWT; without a header, the anonymous principal outside production (its budget
 * keyed by `ip`) and a 401 failure in it; a JWT whose keys cannot be fetched is a 503 failure.
 * Shared by the /graphql middleware and the subscription transports (server/subscriptions).
 */
export type TokenAuthenticator = (header: string | undefined, ip: string | undefined) => Promise<Principal | AuthenticationFailure>;

/** The authenticator of these keys, JWT settings and anonymous scopes. */
export function tokenAuthenticator(options: AuthenticationOptions): TokenAuthenticator {
  const anonymous: Principal | null = options.anonymousScopes && {
    kind: 'anonymous',
    client: 'anonymous',
    rateLimitKey: '',
    scopes: new Set(options.anonymousScopes),
    customerId: null,
    anonymousId: null,
  };
  const failure = (status: 401 | 503, message: string, tokenGiven: boolean): AuthenticationFailure => ({ status, message, tokenGiven });
  return async (header, ip) => {
    if (!header) {
      if (!anonymous) return failure(401, 'Authentication required: send an API key or a JWT as `Authorization: Bearer <token>`.', false);
      return { ...anonymous, rateLimitKey: `ip:${ip ?? 'unknown'}` };
    }
    const match = /^Bearer +([\x21-\x7e]{1,4096})$/i.exec(header);
    if (!match) return failure(401, 'Expected `Authorization: Bearer <token>`.', true);
    const token = match[1]!;
    if (token.startsWith(API_KEY_PREFIX)) {
      const principal = options.apiKeys.principal(token);
      if (principal) return principal;
      options.logger.info({ auth: { failure: 'invalid', kind: 'api-key' } }, 'authentication failed');
      return failure(401, 'The API key is not valid.', true);
    }
    if (!options.jwt || token.split('.').length !== 3) return failure(401, 'The bearer token is not valid.', true);
    const result = await options.jwt.verify(token);
    if (!('failure' in result)) return result.principal;
    options.logger.info({ auth: { failure: result.failure, reason: result.reason, kind: 'jwt' } }, 'authentication failed');
    if (result.failure === 'unavailable') return failure(503, 'Tokens cannot be verified right now; try again shortly.', false);
    return failure(401, result.failure === 'expired' ? 'The bearer token has expired.' : 'The bearer token is not valid.', true);
  };
}

/** True when a TokenAuthenticator refused. */
export function isAuthenticationFailure(result: Principal | AuthenticationFailure): result is AuthenticationFailure {
  return 'status' in result;
}

/**
 * Express middleware for /graphql: a `Bearer` API key (`c360_...`) or JWT becomes the request's
 * principal; a bad one is answered 401 (503 when the JWT keys cannot be fetched) before any
 * GraphQL work. Without credentials: the anonymous principal outside production, 401 in it.
 */
export function authentication(
  authenticateToken: TokenAuthenticator,
  /** `sandboxPage`: the Sandbox page is served without credentials (it is static; every query it sends needs them). */
  { sandboxPage }: { readonly sandboxPage: boolean },
): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization');
    if (!header && sandboxPage && isLandingPageRequest(req)) return next();
    const result = await authenticateToken(header, req.ip);
    if (isAuthenticationFailure(result)) return refuseAuthentication(res, result);
    res.locals.principal = result;
    next();
  };
}

/** A browser asking for the Sandbox page: GET, preferring HTML (as Apollo decides it). */
export function isLandingPageRequest(req: Request): boolean {
  return req.method === 'GET' && req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html';
}

/** Answers a refused authentication: 401 with `WWW-Authenticate`, or 503 with `Retry-After`, and an UNAUTHENTICATED error. */
export function refuseAuthentication(res: Response, { status, message, tokenGiven }: AuthenticationFailure): void {
  if (status === 401) {
    res.setHeader('www-authenticate', `Bearer realm="customer-360"${tokenGiven ? ', error="invalid_token"' : ''}`);
  } else {
    res.setHeader('retry-after', '5');
  }
  res.status(status).json({ errors: [{ message, extensions: { code: ErrorCode.Unauthenticated } }] });
}
