import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { key, testSecurity } from './helpers.ts';

/** What helmet set on every response before its headers were recorded once at start-up (server/auth/http.ts). */
const EVERY_RESPONSE = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};
const API_POLICY = "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'";
const APOLLO_CDN = 'https://apollo-server-landing-page.cdn.apollographql.com https://embeddable-sandbox.cdn.apollographql.com https://embeddable-explorer.cdn.apollographql.com';
const SANDBOX_POLICY = [
  "default-src 'self'",
  `script-src 'self' 'unsafe-inline' ${APOLLO_CDN}`,
  `style-src 'self' 'unsafe-inline' ${APOLLO_CDN} https://fonts.googleapis.com`,
  "font-src 'self' https://fonts.gstatic.com",
  `img-src 'self' data: ${APOLLO_CDN}`,
  `manifest-src ${APOLLO_CDN}`,
  'frame-src https://sandbox.embed.apollographql.com https://explorer.embed.apollographql.com',
  "connect-src 'self' https://*.apollographql.com",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join(';');
const GRAPHIQL_POLICY =
  "default-src 'self';script-src 'self';style-src 'self' 'unsafe-inline';font-src 'self' data:;img-src 'self' data:;connect-src 'self';frame-ancestors 'none';base-uri 'self';form-action 'self'";

/** The response's security headers: helmet's, the policy, CORS's exposed headers, and X-Powered-By (which must be absent). */
function securityHeadersOf(response: Response): Record<string, string | null> {
  const names = [...Object.keys(EVERY_RESPONSE), 'content-security-policy', 'access-control-expose-headers', 'x-powered-by'];
  return Object.fromEntries(names.map((name) => [name, response.headers.get(name)]));
}

const expected = (policy: string) => ({
  ...EVERY_RESPONSE,
  'content-security-policy': policy,
  'access-control-expose-headers': 'x-request-id,retry-after,server-timing',
  'x-powered-by': null,
});

let db: TestDatabase;
let production: TestServer;
let development: TestServer;
let graphiql: TestServer;
beforeAll(async () => {
  db = await createDemoDatabase({ seed: 360, customers: 5, asOf: TEST_AS_OF });
  production = await startTestServer(db, {}, { production: true, security: testSecurity({ corsOrigins: ['https://shop.example.com'] }) });
  development = await startTestServer(db);
  graphiql = await startTestServer(db, {}, { production: true, security: testSecurity({ explorer: 'graphiql' }) });
});
afterAll(async () => {
  await Promise.all([production?.close(), development?.close(), graphiql?.close()]);
  await db?.close();
});

describe('security headers', () => {
  it('are the same on every route as helmet set them, with the API policy where no page is served', async () => {
    const json = { 'content-type': 'application/json' };
    const query = '{"query":"{ __typename }"}';
    const responses: Record<string, Response> = {
      'an answered query': await fetch(`${production.url}/graphql`, { method: 'POST', headers: { ...json, ...key('analyst') }, body: query }),
      'a refused query': await fetch(`${production.url}/graphql`, { method: 'POST', headers: json, body: query }),
      'a malformed body': await fetch(`${development.url}/graphql`, { method: 'POST', headers: json, body: '{"query": ' }),
      'a CORS preflight': await fetch(`${production.url}/graphql`, {
        method: 'OPTIONS',
        headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'POST' },
      }),
      'a browser where no page is served': await fetch(`${production.url}/graphql`, { headers: { accept: 'text/html', ...key('analyst') } }),
      '/healthz': await fetch(`${production.url}/healthz`),
      '/readyz': await fetch(`${production.url}/readyz`),
      '/metrics': await fetch(`${production.url}/metrics`),
      'an explorer file': await fetch(`${graphiql.url}/explorer/graphiql.js`),
    };
    for (const [route, response] of Object.entries(responses)) {
      await response.arrayBuffer();
      expect({ route, headers: securityHeadersOf(response) }).toEqual({ route, headers: expected(API_POLICY) });
    }
  });

  it("keep each explorer page's own policy: the Sandbox's, and GraphiQL's in its mode and as the Sandbox's fallback", async () => {
    const page = (server: TestServer, path = '/graphql') => fetch(`${server.url}${path}`, { headers: { accept: 'text/html' } });
    const pages: Array<[string, Response, string]> = [
      ['the Sandbox', await page(development), SANDBOX_POLICY],
      ["the Sandbox's GraphiQL fallback", await page(development, '/graphql?explorer=graphiql'), GRAPHIQL_POLICY],
      ['GraphiQL', await page(graphiql), GRAPHIQL_POLICY],
    ];
    for (const [name, response, policy] of pages) {
      expect(response.status).toBe(200);
      await response.arrayBuffer();
      expect({ name, headers: securityHeadersOf(response) }).toEqual({ name, headers: expected(policy) });
    }
  });

  it("leave Express's own 404 its stricter policy", async () => {
    const response = await fetch(`${production.url}/nothing-here`);
    expect(response.status).toBe(404);
    expect(securityHeadersOf(response)).toEqual(expected("default-src 'none'"));
  });
});
