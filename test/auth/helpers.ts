import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { mintApiKey } from '../../server/auth/api-keys.ts';
import type { SecurityOptions } from '../../server/auth/index.ts';
import { Scope } from '../../server/auth/scopes.ts';
import { signVisitorToken, visitorClaims } from '../../server/auth/visitor-token.ts';
import { crmNotConfigured, emailNotConfigured } from '../../server/sources.ts';
import type { HubSpotSource } from '../../sources/hubspot/index.ts';
import type { MailchimpSource } from '../../sources/mailchimp/index.ts';

/** One API key per role, minted for this test run (only their hashes reach the server). */
export const KEYS = {
  personalization: mintApiKey('personalization', [Scope.Traits]),
  support: mintApiKey('support', [Scope.Traits, Scope.Pii]),
  analyst: mintApiKey('analyst', [Scope.Segments]),
  analystWithPii: mintApiKey('analyst-pii', [Scope.Segments, Scope.Pii]),
  admin: mintApiKey('admin', [Scope.Admin]),
};

export const ISSUER = 'https://login.shop.example';
export const AUDIENCE = 'customer-360';
export const HS_SECRET = 'test-secret-of-at-least-thirty-two-characters!';

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const key = (role: keyof typeof KEYS) => bearer(KEYS[role].key);

/** The policy of the servers under test: every role's key, HS256 JWTs, no anonymous access. */
export function testSecurity(overrides: Partial<SecurityOptions> = {}): Partial<SecurityOptions> {
  return {
    apiKeys: Object.values(KEYS).map(({ entry }) => entry),
    jwt: { issuer: ISSUER, audience: AUDIENCE, key: { secret: HS_SECRET } },
    anonymousScopes: null,
    ...overrides,
  };
}

interface TokenOptions {
  readonly sub?: string;
  readonly scope?: string;
  readonly issuer?: string;
  readonly audience?: string;
  readonly expiresIn?: string | number;
  readonly secret?: string;
}

/** A frontend token (HS256) bound to customer `sub`, valid unless told otherwise. */
export function selfToken(options: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({ scope: options.scope ?? Scope.Self })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setSubject(options.sub ?? '1')
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '10m');
  return jwt.sign(new TextEncoder().encode(options.secret ?? HS_SECRET));
}

/** A visitor token (HS256) bound to the browser `anonymousId`, for 10 minutes unless told otherwise. */
export function visitorToken(anonymousId: string, options: { ttlSeconds?: number; secret?: string } = {}): Promise<string> {
  const claims = visitorClaims(anonymousId, { issuer: ISSUER, audience: AUDIENCE, ttlSeconds: options.ttlSeconds ?? 600 });
  return signVisitorToken(claims, options.secret ?? HS_SECRET);
}

/** An HS256 token with exactly these claims (iss and aud added unless given), for claims the builders above never make. */
export function signedClaims(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(HS_SECRET));
}

/** An RS256 key pair and its public JWKS, for servers that verify with a JWKS. */
export async function rsaKeys(kid = 'test-key'): Promise<{ sign(payload: Record<string, unknown>, sub: string): Promise<string>; jwks: { keys: JWK[] } }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return {
    jwks: { keys: [jwk] },
    sign: (payload, sub) =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', kid })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(privateKey),
  };
}

/** A JWT with `alg: none` and no signature, as an attacker would send it. */
export function unsignedToken(payload: Record<string, unknown>): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`;
}

/** CRM and email sources that are not configured, counting every call made to them. */
export function countingUpstreams(): { crm: HubSpotSource; email: MailchimpSource; calls: () => number; reset(): void } {
  let calls = 0;
  const count = <T extends object>(source: T): T =>
    Object.fromEntries(
      Object.entries(source).map(([name, value]) => [
        name,
        typeof value === 'function' && name !== 'close' && name !== 'withProperties' && name !== 'reserveSlot'
          ? (...args: unknown[]) => {
              calls++;
              return (value as (...a: unknown[]) => unknown)(...args);
            }
          : value,
      ]),
    ) as T;
  return { crm: count(crmNotConfigured()), email: count(emailNotConfigured()), calls: () => calls, reset: () => void (calls = 0) };
}

/** A raw request to /graphql: a body of any shape, any method and headers. */
export async function send(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const response = await fetch(`${url}/graphql`, {
    method: init.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    ...(init.body !== undefined && { body: init.body }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}
