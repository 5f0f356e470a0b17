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
  /** The Sandbox page is served without credentials (it is static; every query it sends needs them). */
  readonly sandboxPage: boolean;
  readonly logger: Logger;
}

/** The principal the authentication middleware found for this request. */
export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  // The middleware runs before Apollo on every /graphql request; no principal is a wiring bug.
  if (!principal) throw new Error('no principal: the authentication middleware did not run');
  return principal;
}

/**
 * Express middleware for /graphql: a `Bearer` API key (`c360_...`) or JWT becomes the request's
 * principal; a bad one is answered 401 (503 when the JWT keys cannot be fetched) before any
 * GraphQL work. Without credentials: the anonymous principal outside production, 401 in it.
 */
export function authentication(options: AuthenticationOptions): RequestHandler {
  const anonymous: Principal | null = options.anonymousScopes && {
    kind: 'anonymous',
    client: 'anonymous',
    rateLimitKey: '',
    scopes: new Set(options.anonymousScopes),
    customerId: null,
    anonymousId: null,
  };
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization');
    if (!header) {
      if (options.sandboxPage && isLandingPageRequest(req)) return next();
      if (!anonymous) return refuse(res, 401, 'Authentication required: send an API key or a JWT as `Authorization: Bearer <token>`.', false);
      res.locals.principal = { ...anonymous, rateLimitKey: `ip:${req.ip ?? 'unknown'}` } satisfies Principal;
      return next();
    }
    const match = /^Bearer +([\x21-\x7e]{1,4096})$/i.exec(header);
    if (!match) return refuse(res, 401, 'Expected `Authorization: Bearer <token>`.', true);
    const token = match[1]!;
    if (token.startsWith(API_KEY_PREFIX)) {
      const principal = options.apiKeys.principal(token);
      if (!principal) {
        options.logger.info({ auth: { failure: 'invalid', kind: 'api-key' } }, 'authentication failed');
        return refuse(res, 401, 'The API key is not valid.', true);
      }
      res.locals.principal = principal;
      return next();
    }
    if (!options.jwt || token.split('.').length !== 3) return refuse(res, 401, 'The bearer token is not valid.', true);
    const result = await options.jwt.verify(token);
    if ('failure' in result) {
      options.logger.info({ auth: { failure: result.failure, reason: result.reason, kind: 'jwt' } }, 'authentication failed');
      if (result.failure === 'unavailable') return refuse(res, 503, 'Tokens cannot be verified right now; try again shortly.', false);
      return refuse(res, 401, result.failure === 'expired' ? 'The bearer token has expired.' : 'The bearer token is not valid.', true);
    }
    res.locals.principal = result.principal;
    next();
  };
}

/** A browser asking for the Sandbox page: GET, preferring HTML (as Apollo decides it). */
export function isLandingPageRequest(req: Request): boolean {
  return req.method === 'GET' && req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) === 'text/html';
}

function refuse(res: Response, status: 401 | 503, message: string, tokenGiven: boolean): void {
  if (status === 401) {
    res.setHeader('www-authenticate', `Bearer realm="customer-360"${tokenGiven ? ', error="invalid_token"' : ''}`);
  } else {
    res.setHeader('retry-after', '5');
  }
  res.status(status).json({ errors: [{ message, extensions: { code: ErrorCode.Unauthenticated } }] });
}
