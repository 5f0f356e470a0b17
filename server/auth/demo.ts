import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { mintApiKey, type ApiKeyEntry } from './api-keys.ts';
import type { SecurityOptions } from './index.ts';
import { Scope } from './scopes.ts';
import { DEFAULT_VISITOR_MAX_TTL_SECONDS, signVisitorToken, visitorClaims } from './visitor-token.ts';

/** The roles the demo mints a credential for, as docs/security.md describes them. */
const ROLES: ReadonlyArray<{ client: string; scopes: Scope[]; role: string }> = [
  { client: 'demo-personalization', scopes: [Scope.Traits], role: 'personalization engine (traits, no identifiers)' },
  { client: 'demo-support', scopes: [Scope.Traits, Scope.Pii], role: 'support tool (traits and identifiers)' },
  { client: 'demo-analyst', scopes: [Scope.Segments, Scope.AudiencesWrite], role: 'analyst (segments, audiences, introspection; identifiers masked)' },
  { client: 'demo-admin', scopes: [Scope.Admin, Scope.Segments], role: 'admin (forgetCustomer, introspection)' },
];

const DEMO_ISSUER = 'customer-360-demo';
const DEMO_AUDIENCE = 'customer-360';

/** Browsers of the demo's people, for its frontend tokens (all optional). */
export interface DemoBrowsers {
  /** An anonymous id linked to nobody: the demo prints a visitor token for it. */
  readonly visitor?: string;
  /** One of the example customer's anonymous ids: their token carries it as `anonymous_id`. */
  readonly customerSession?: string;
}

/**
 * Fresh credentials for the embedded demo (the process's memory only, gone at exit): one API key
 * per role, and, when no JWT checking is configured, an HS256 secret of its own, a frontend JWT
 * bound to `customerId` (with `anonymous_id` when `browsers.customerSession` is given) and a
 * visitor token for `browsers.visitor`. Returns the policy with them added and the text to print.
 */
export async function demoCredentials(security: SecurityOptions, customerId: string, browsers: DemoBrowsers = {}): Promise<{ security: SecurityOptions; text: string }> {
  const minted = ROLES.map(({ client, scopes, role }) => ({ role, ...mintApiKey(client, scopes) }));
  const apiKeys: ApiKeyEntry[] = [...security.apiKeys, ...minted.map(({ entry }) => entry)];
  const line = (role: string, token: string) => `  ${role.padEnd(54)} Authorization: Bearer ${token}`;
  const lines = minted.map(({ role, key }) => line(role, key));
  let jwt = security.jwt;
  if (!jwt) {
    const secret = randomBytes(32).toString('base64url');
    jwt = {
      issuer: DEMO_ISSUER,
      audience: DEMO_AUDIENCE,
      key: { secret },
      allowedScopes: [Scope.Self, Scope.Visitor],
      visitorMaxTtlSeconds: DEFAULT_VISITOR_MAX_TTL_SECONDS,
    };
    const token = await new SignJWT({ scope: Scope.Self, ...(browsers.customerSession && { anonymous_id: browsers.customerSession }) })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(DEMO_ISSUER)
      .setAudience(DEMO_AUDIENCE)
      .setSubject(customerId)
      .setIssuedAt()
      .setExpirationTime('12h')
      .sign(new TextEncoder().encode(secret));
    lines.push(line(`frontend, customer ${customerId} only (query { me { ... } })`, token));
    if (browsers.visitor) {
      // As short-lived as production allows: mint another with the process's next start.
      const claims = visitorClaims(browsers.visitor, { issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE });
      const visitor = await signVisitorToken(claims, secret);
      lines.push(line('visitor, one anonymous browser only, valid 1 h', visitor));
      lines.push(`    (query { visitor(anonymousId: "${browsers.visitor}") { ... } })`);
    }
  }
  const text = `Demo credentials (this run only; without one, requests get every read scope outside production):\n${lines.join('\n')}\n\n`;
  return { security: { ...security, apiKeys, jwt }, text };
}
