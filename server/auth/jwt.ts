import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { isScope, Scope, type Principal } from './scopes.ts';

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
  /** Scopes a JWT may carry (its `scope`/`scp` claim is intersected with these). Default: customer:read:self. */
  readonly allowedScopes?: readonly Scope[];
  readonly clockToleranceSeconds?: number;
}

/** Why a token was refused: `expired` and `invalid` are the caller's (401); `unavailable` is ours (503, keys unreachable). */
export type JwtFailure = 'expired' | 'invalid' | 'unavailable';

export type JwtResult = { readonly principal: Principal } | { readonly failure: JwtFailure; readonly reason: string };

/** Commerce customer ids, as `sub` of a self token. */
const CUSTOMER_ID = /^[1-9]\d{0,17}$/;

/**
 * Verifies frontend JWTs with jose: signature with the configured key and algorithms only, then
 * `iss`, `aud`, `exp` (required) and `nbf`. The `sub` of a `customer:read:self` token is the
 * commerce customer id it is bound to.
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
      this.key = 'jwks' in options.key
        ? createLocalJWKSet(options.key.jwks)
        : createRemoteJWKSet(new URL(options.key.jwksUrl), { timeoutDuration: 2000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
      this.algorithms = [...(options.algorithms ?? ['RS256', 'ES256'])];
      if (this.algorithms.includes('HS256')) throw new Error('HS256 needs a shared secret, not a JWKS');
    }
    this.allowed = new Set(options.allowedScopes ?? [Scope.Self]);
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
    const sub = String(payload.sub);
    if (scopes.includes(Scope.Self) && !CUSTOMER_ID.test(sub)) return { failure: 'invalid', reason: 'sub is not a customer id' };
    const client = typeof payload.azp === 'string' ? payload.azp : typeof payload.client_id === 'string' ? payload.client_id : 'jwt';
    return {
      principal: {
        kind: 'jwt',
        client,
        rateLimitKey: `jwt:${sub}`,
        scopes: new Set(scopes),
        customerId: scopes.includes(Scope.Self) ? sub : null,
      },
    };
  }
}

/** `scope` (OAuth 2, space-separated) or `scp` (a list); a token with neither is a self token. */
function claimedScopes(payload: JWTPayload): Scope[] {
  const raw = typeof payload.scope === 'string' ? payload.scope.split(' ') : Array.isArray(payload.scp) ? payload.scp : [Scope.Self];
  return raw.filter((scope): scope is Scope => typeof scope === 'string' && isScope(scope));
}
