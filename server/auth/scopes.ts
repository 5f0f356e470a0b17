/**
 * Who is calling and what they may read. A principal comes from an API key, a JWT or (outside
 * production only) no credentials at all; its scopes are matched against the policies the schema
 * declares with `@requiresScopes` / `@authenticated` (see policy.ts).
 */

export const Scope = {
  /** Ids, commerce aggregates, RFM, engagement aggregates: no direct identifiers. */
  Traits: 'customer:read:traits',
  /** Direct identifiers (email, names, phone, address, IPs, ...), on top of what other scopes grant. */
  Pii: 'customer:read:pii',
  /** One customer, the JWT's `sub`: what a storefront shows them (server/auth/storefront.ts), nobody else. */
  Self: 'customer:read:self',
  /** One anonymous browser, the JWT's `sub` (its analytics anonymous id): what a storefront shows it, nothing about customers. */
  Visitor: 'visitor:read:self',
  /** `customerSegment` and introspection; identifiers masked unless `customer:read:pii` is also held. */
  Segments: 'segments:read',
  /** `saveAudience` and `deleteAudience`: definitions only (reading members needs segments:read). */
  AudiencesWrite: 'audiences:write',
  /** `forgetCustomer`, cache operations, introspection. */
  Admin: 'admin',
} as const;

export type Scope = (typeof Scope)[keyof typeof Scope];

export const ALL_SCOPES: readonly Scope[] = Object.values(Scope);

/** What anonymous callers get outside production, so `npm start` + Sandbox work with no key. */
export const DEVELOPMENT_ANONYMOUS_SCOPES: readonly Scope[] = [Scope.Traits, Scope.Pii, Scope.Segments, Scope.AudiencesWrite];

/** The scopes that bind a token to one person (its `sub`); only JWTs carry them, and at most one. */
export const BOUND_SCOPES = [Scope.Self, Scope.Visitor] as const;
export type BoundScope = (typeof BOUND_SCOPES)[number];

export function isBoundScope(scope: string): scope is BoundScope {
  return (BOUND_SCOPES as readonly string[]).includes(scope);
}

export function isScope(value: string): value is Scope {
  return (ALL_SCOPES as readonly string[]).includes(value);
}

export interface Principal {
  readonly kind: 'api-key' | 'jwt' | 'anonymous';
  /** For logs and audit: the API key's client name, the JWT's `azp`/`client_id` (or `jwt`), `anonymous`. */
  readonly client: string;
  /** Whose budget a request spends: `key:<client>`, `jwt:<sub>` or `ip:<address>`. */
  readonly rateLimitKey: string;
  readonly scopes: ReadonlySet<Scope>;
  /** The customer a `customer:read:self` token is bound to (the JWT `sub`), else null. */
  readonly customerId: string | null;
  /**
   * The browser a `visitor:read:self` token is bound to (its `sub`, an analytics anonymous id); for
   * a `customer:read:self` token, the browser of the session the customer signed in on (its
   * optional `anonymous_id` claim), which `me` merges; else null.
   */
  readonly anonymousId: string | null;
  /** Per-client override of the default rate limit (API keys may carry one). */
  readonly rateLimit?: RateLimitPolicy;
}

export interface RateLimitPolicy {
  /** Query cost a client may spend per second, sustained. */
  readonly costPerSecond: number;
  /** Extra cost a client may spend in a burst (refilled every burst / costPerSecond seconds). */
  readonly burst: number;
}

/** True for introspection and `_service`: the schema itself is for analysts and admins. */
export function maySeeSchema(principal: Principal): boolean {
  return principal.scopes.has(Scope.Segments) || principal.scopes.has(Scope.Admin);
}
