import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { mintApiKey, type ApiKeyEntry } from './api-keys.ts';
import type { SecurityOptions } from './index.ts';
import { Scope } from './scopes.ts';

/** The roles the demo mints a credential for, as the README's Security section describes them. */
const ROLES: ReadonlyArray<{ client: string; scopes: Scope[]; role: string }> = [
  { client: 'demo-personalization', scopes: [Scope.Traits], role: 'personalization engine (traits, no identifiers)' },
  { client: 'demo-support', scopes: [Scope.Traits, Scope.Pii], role: 'support tool (traits and identifiers)' },
  { client: 'demo-analyst', scopes: [Scope.Segments], role: 'analyst (segments, introspection; identifiers masked)' },
  { client: 'demo-admin', scopes: [Scope.Admin, Scope.Segments], role: 'admin (forgetCustomer, introspection)' },
];

const DEMO_ISSUER = 'customer-360-demo';
const DEMO_AUDIENCE = 'customer-360';

/**
 * Fresh credentials for the embedded demo (the process's memory only, gone at exit): one API key
 * per role, and, when no JWT checking is configured, an HS256 secret of its own and a frontend JWT
 * bound to `customerId`. Returns the policy with them added and the text to print.
 */
export async function demoCredentials(security: SecurityOptions, customerId: string): Promise<{ security: SecurityOptions; text: string }> {
  const minted = ROLES.map(({ client, scopes, role }) => ({ role, ...mintApiKey(client, scopes) }));
  const apiKeys: ApiKeyEntry[] = [...security.apiKeys, ...minted.map(({ entry }) => entry)];
  const lines = minted.map(({ role, key }) => `  ${role.padEnd(54)} Authorization: Bearer ${key}`);
  let jwt = security.jwt;
  if (!jwt) {
    const secret = randomBytes(32).toString('base64url');
    jwt = { issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE, key: { secret }, allowedScopes: [Scope.Self] };
    const token = await new SignJWT({ scope: Scope.Self })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(DEMO_ISSUER)
      .setAudience(DEMO_AUDIENCE)
      .setSubject(customerId)
      .setIssuedAt()
      .setExpirationTime('12h')
      .sign(new TextEncoder().encode(secret));
    lines.push(`  ${`frontend, customer ${customerId} only (query { me { ... } })`.padEnd(54)} Authorization: Bearer ${token}`);
  }
  const text = `Demo credentials (this run only; without one, requests get every read scope outside production):\n${lines.join('\n')}\n\n`;
  return { security: { ...security, apiKeys, jwt }, text };
}
