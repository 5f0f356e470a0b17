import { SignJWT } from 'jose';
import { Scope } from './scopes.ts';

/**
 * An analytics anonymous id (the browser's cookie id): the `sub` of a visitor token and the
 * `anonymous_id` claim of a customer token. The same characters the `anonymousId` arguments take.
 */
export const ANONYMOUS_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** How long a visitor token may live (`exp - iat`) unless JWT_VISITOR_MAX_TTL_SECONDS says otherwise. */
export const DEFAULT_VISITOR_MAX_TTL_SECONDS = 3600;

/** The whole claim set of a visitor token. */
export interface VisitorClaims {
  readonly iss: string;
  readonly aud: string;
  /** The browser's analytics anonymous id. */
  readonly sub: string;
  readonly scope: typeof Scope.Visitor;
  /** Required: the server refuses a visitor token without it, or whose `exp - iat` exceeds its maximum. */
  readonly iat: number;
  readonly exp: number;
}

export interface VisitorClaimOptions {
  /** JWT_ISSUER of the server that will verify the token. */
  readonly issuer: string;
  /** JWT_AUDIENCE of that server. */
  readonly audience: string;
  /** Lifetime in seconds (default 3600); the server refuses more than its JWT_VISITOR_MAX_TTL_SECONDS. */
  readonly ttlSeconds?: number;
  readonly now?: Date;
}

/**
 * The claims of a visitor token for one browser: what a storefront backend signs for the browser
 * with its own JWT library and key (this server verifies it like a customer token: JWT_SECRET, or
 * the JWKS), and what `signVisitorToken` signs with JWT_SECRET. Throws when the id is not an
 * anonymous id or the lifetime is not a positive whole number of seconds; the message never
 * repeats the id.
 */
export function visitorClaims(anonymousId: string, options: VisitorClaimOptions): VisitorClaims {
  if (!ANONYMOUS_ID.test(anonymousId)) {
    const { length } = anonymousId;
    throw new Error(`expected an anonymous id of 1-128 letters, digits, . _ : -, got ${length} characters${length >= 1 && length <= 128 ? ', some of them others' : ''}`);
  }
  const ttl = options.ttlSeconds ?? DEFAULT_VISITOR_MAX_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1) throw new Error(`expected a lifetime of a whole number of seconds, at least 1, got ${ttl}`);
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return { iss: options.issuer, aud: options.audience, sub: anonymousId, scope: Scope.Visitor, iat, exp: iat + ttl };
}

/** The claims signed with an HS256 shared secret (JWT_SECRET), as a compact JWT. */
export function signVisitorToken(claims: VisitorClaims, secret: string): Promise<string> {
  return new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}
