import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { isScope, Scope, type Principal } from './scopes.ts';
import { ANONYMOUS_ID, DEFAULT_VISITOR_MAX_TTL_SECONDS } from './visitor-token.ts';

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

export interface JwtOptions {
  /** Expected `iss`. */
  readonly issuer: string;
  /** Expected `aud` (one of, when the token lists several). */
  readonly audience: string;
  /** Where the verification keys come from: a shared HS256 secret, or a JWKS (inline or by URL) for RS256/ES256. */
  readonly key: { readonly secret: string } | { readonly jwks: JSONWebKeySet } | { readonly jwksUrl: string };
  /** Accepted `alg` values; anything else (`none` included) is refused. Defaults from the key kind. */
  readonly algorithms?: readonly JwtAlgorithm[];
  /** Scopes a JWT may carry (its `scope`/`scp` claim is intersected with these). Default: customer:read:self and visitor:read:self. */
  readonly allowedScopes?: readonly Scope[];
  readonly clockToleranceSeconds?: number;
  /** The longest a visitor token may live, `exp - iat` in seconds. Default 3600. */
  readonly visitorMaxTtlSeconds?: number;
}

/** Why a token was refused: `expired` and `invalid` are the caller's (401); `unavailable` is ours (503, keys unreachable). */
export type JwtFailure = 'expired' | 'invalid' | 'unavailable';

export type JwtResult = { readonly principal: Principal } | { readonly failure: JwtFailure; readonly reason: string };

/** Commerce customer ids, as `sub` of a self token. */
const CUSTOMER_ID = /^[1-9]\d{0,17}$/;

/**
 * Verifies frontend JWTs with jose: signature with the configured key and algorithms only, then
 * `iss`, `aud`, `exp` (required) and `nbf`. The `sub` of a `customer:read:self` token is the
 * commerce customer id it is bound to, and its optional `anonymous_id` the browser of the session
 * it was issued on; the `sub` of a `visitor:read:self` token is the anonymous id it is bound to,
 * and it must be short-lived (`iat` required, `exp - iat` at most `visitorMaxTtlSeconds`). A token
 * may carry one of the two self scopes, not both.
 */
export class JwtVerifier {
  private readonly key: Uint8Array | JWTVerifyGetKey;
  private readonly algorithms: JwtAlgorithm[];
  private readonly allowed: ReadonlySet<Scope>;

  constructor(private readonly options: JwtOptions) {
    if ('secret' in options.key) {
      this.key = new TextEncoder().encode(options.key.secret);
      this.algorithms = [...(options.algorithms ?? ['HS256'])];
      if (this.algorithms.some((alg) => alg !== 'HS256')) throw new Error('a JWT secret verifies HS256 only');
    } else {
      this.key =
        'jwks' in options.key
          ? createLocalJWKSet(options.key.jwks)
          : createRemoteJWKSet(new URL(options.key.jwksUrl), { timeoutDuration: 2000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
      this.algorithms = [...(options.algorithms ?? ['RS256', 'ES256'])];
      if (this.algorithms.includes('HS256')) throw new Error('HS256 needs a shared secret, not a JWKS');
    }
    this.allowed = new Set(options.allowedScopes ?? [Scope.Self, Scope.Visitor]);
  }

  async verify(token: string): Promise<JwtResult> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key as Uint8Array, {
        issuer: this.options.issuer,
        audience: this.options.audience,
        algorithms: this.algorithms,
        requiredClaims: ['exp', 'sub'],
        clockTolerance: this.options.clockToleranceSeconds ?? 30,
      }));
    } catch (error) {
      if (error instanceof errors.JWTExpired) return { failure: 'expired', reason: error.code };
      // Keys that cannot be fetched are our failure, not the caller's: a timeout, a non-200 (the
      // base JOSEError), a network error (not a JOSEError at all).
      if (error instanceof errors.JWKSTimeout || (error as Error)?.constructor === errors.JOSEError || !(error instanceof errors.JOSEError)) {
        return { failure: 'unavailable', reason: error instanceof errors.JOSEError ? error.code : 'jwks fetch failed' };
      }
      return { failure: 'invalid', reason: error instanceof errors.JOSEError ? error.code : 'unknown' };
    }
    const scopes = claimedScopes(payload).filter((scope) => this.allowed.has(scope));
    const bound = this.binding(payload, scopes);
    if ('reason' in bound) return { failure: 'invalid', reason: bound.reason };
    const sub = String(payload.sub);
    const client = typeof payload.azp === 'string' ? payload.azp : typeof payload.client_id === 'string' ? payload.client_id : 'jwt';
    return {
      principal: {
        kind: 'jwt',
        client,
        // Visitors apart from customers: an anonymous id may look like a customer id.
        rateLimitKey: scopes.includes(Scope.Visitor) ? `visitor:${sub}` : `jwt:${sub}`,
        scopes: new Set(scopes),
        ...bound,
      },
    };
  }

  /** Whom the token is bound to, from its self scope and claims; a reason when they do not fit. */
  private binding(payload: JWTPayload, scopes: readonly Scope[]): Pick<Principal, 'customerId' | 'anonymousId'> | { reason: string } {
    const sub = String(payload.sub);
    const self = scopes.includes(Scope.Self);
    const visitor = scopes.includes(Scope.Visitor);
    if (self && visitor) return { reason: 'customer:read:self and visitor:read:self together' };
    if (self) {
      if (!CUSTOMER_ID.test(sub)) return { reason: 'sub is not a customer id' };
      const session = payload.anonymous_id;
      if (session === undefined) return { customerId: sub, anonymousId: null };
      if (typeof session !== 'string' || !ANONYMOUS_ID.test(session)) return { reason: 'anonymous_id is not an anonymous id' };
      return { customerId: sub, anonymousId: session };
    }
    if (visitor) {
      if (!ANONYMOUS_ID.test(sub)) return { reason: 'sub is not an anonymous id' };
      // A browser's token is handed to the browser: it must expire soon after it was issued, and an
      // `iat` in the future would stretch that window.
      const { iat, exp } = payload as { iat?: number; exp: number };
      if (iat === undefined) return { reason: 'a visitor token without iat' };
      const now = Math.floor(Date.now() / 1000);
      if (iat > now + (this.options.clockToleranceSeconds ?? 30)) return { reason: 'iat is in the future' };
      if (exp - iat > (this.options.visitorMaxTtlSeconds ?? DEFAULT_VISITOR_MAX_TTL_SECONDS)) return { reason: 'a visitor token that lives too long' };
      return { customerId: null, anonymousId: sub };
    }
    return { customerId: null, anonymousId: null };
  }
}

/** `scope` (OAuth 2, space-separated) or `scp` (a list); a token with neither is a self token. */
function claimedScopes(payload: JWTPayload): Scope[] {
  const raw = typeof payload.scope === 'string' ? payload.scope.split(' ') : Array.isArray(payload.scp) ? payload.scp : [Scope.Self];
  return raw.filter((scope): scope is Scope => typeof scope === 'string' && isScope(scope));
}
