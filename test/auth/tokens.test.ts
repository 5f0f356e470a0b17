import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { AUDIENCE, bearer, HS_SECRET, ISSUER, key, rsaKeys, selfToken, send, testSecurity, unsignedToken } from './helpers.ts';

const world: DemoWorld = { seed: 360, customers: 40, asOf: TEST_AS_OF };
const person = personAt(world, 4);
const ME = `{ me { id email } }`;
let db: TestDatabase;

beforeAll(async () => {
  db = await createDemoDatabase(world);
});
afterAll(async () => {
  await db?.close();
});

const claims = (overrides: Record<string, unknown> = {}) => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: String(person.customerId),
  scope: 'customer:read:self',
  exp: Math.floor(Date.now() / 1000) + 600,
  ...overrides,
});

function expectUnauthenticated(response: { status: number; headers: Headers; body: any }, message: RegExp, tokenGiven = true) {
  expect(response.status).toBe(401);
  expect(response.body).toEqual({ errors: [{ message: expect.stringMatching(message), extensions: { code: 'UNAUTHENTICATED' } }] });
  expect(response.headers.get('www-authenticate')).toBe(`Bearer realm="customer-360"${tokenGiven ? ', error="invalid_token"' : ''}`);
}

describe('JWTs verified with an HS256 secret', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(db, {}, { security: testSecurity() });
  });
  afterAll(async () => server?.close());
  beforeEach(() => server.reset());

  it('accepts a valid frontend token, bound to its sub', async () => {
    const { status, body } = await server.query(ME, {}, bearer(await selfToken({ sub: String(person.customerId) })));
    expect(status).toBe(200);
    expect(body.data).toEqual({ me: { id: String(person.customerId), email: person.email } });
  });

  const tampered: Array<[string, () => Promise<string>, RegExp]> = [
    ['alg: none', async () => unsignedToken(claims()), /not valid/],
    ['alg: none with a signature of garbage', async () => `${unsignedToken(claims())}AAAA`, /not valid/],
    ['a token signed with another secret', () => selfToken({ secret: 'another-secret-of-at-least-thirty-two-chars' }), /not valid/],
    ['an expired token', () => selfToken({ expiresIn: Math.floor(Date.now() / 1000) - 3600 }), /expired/],
    ['a token for another audience', () => selfToken({ audience: 'some-other-api' }), /not valid/],
    ['a token from another issuer', () => selfToken({ issuer: 'https://evil.example' }), /not valid/],
    [
      'a valid token whose payload was edited (sub changed)',
      async () => {
        const [header, , signature] = (await selfToken({ sub: String(person.customerId) })).split('.');
        return `${header}.${Buffer.from(JSON.stringify(claims({ sub: '1' }))).toString('base64url')}.${signature}`;
      },
      /not valid/,
    ],
    ['an RS256 token against an HS256 configuration', async () => (await rsaKeys()).sign(claims(), String(person.customerId)), /not valid/],
    [
      'a token without exp',
      () =>
        new SignJWT({ scope: 'customer:read:self' })
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer(ISSUER)
          .setAudience(AUDIENCE)
          .setSubject('5')
          .sign(new TextEncoder().encode(HS_SECRET)),
      /not valid/,
    ],
    ['a self token whose sub is not a customer id', () => selfToken({ sub: 'user|5' }), /not valid/],
    ['a token that is not a JWT', async () => 'not.a.jwt', /not valid/],
    ['an API key nobody configured', async () => 'c360_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', /API key is not valid/],
  ];

  it.each(tampered)('refuses %s with 401 UNAUTHENTICATED, before any SQL', async (_, token, message) => {
    const response = await server.query(ME, {}, bearer(await token()));
    expectUnauthenticated(response, message);
    expect(server.statements).toHaveLength(0);
  });

  it('refuses a request without credentials when anonymous access is off', async () => {
    expectUnauthenticated(await server.query(ME), /Authentication required/, false);
  });

  it.each([['Basic dXNlcjpwYXNz'], ['Bearer'], ['Bearer two tokens'], ['Token abc']])('refuses the authorization header %j', async (header) => {
    const response = await server.query(ME, {}, { authorization: header });
    expect(response.status).toBe(401);
    expect(response.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('never lets a JWT claim more than JWT_SCOPES allows (the two self scopes by default)', async () => {
    const token = await selfToken({ scope: 'customer:read:traits customer:read:pii admin' });
    const response = await server.query(`{ customer(id: "${person.customerId}") { id } }`, {}, bearer(token));
    expect(response.body.data).toEqual({ customer: null });
    expect(response.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(server.statements).toHaveLength(0);
  });

  it('logs refusals without the token', async () => {
    const token = await selfToken({ expiresIn: Math.floor(Date.now() / 1000) - 60 });
    await server.query(ME, {}, bearer(token));
    const log = server.logs.join('\n');
    expect(log).toContain('"failure":"expired"');
    expect(log).not.toContain(token.split('.')[1]);
  });
});

describe('JWTs verified with RS256 keys from a JWKS', () => {
  let keys: Awaited<ReturnType<typeof rsaKeys>>;
  let inline: TestServer;
  let remote: TestServer;
  let jwksServer: Server;
  let jwksUrl: string;
  beforeAll(async () => {
    keys = await rsaKeys();
    jwksServer = createServer((_, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(keys.jwks)));
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/.well-known/jwks.json`;
    inline = await startTestServer(db, {}, { security: testSecurity({ jwt: { issuer: ISSUER, audience: AUDIENCE, key: { jwks: keys.jwks } } }) });
    remote = await startTestServer(db, {}, { security: testSecurity({ jwt: { issuer: ISSUER, audience: AUDIENCE, key: { jwksUrl } } }) });
  });
  afterAll(async () => {
    await Promise.all([inline?.close(), remote?.close()]);
    jwksServer?.close();
  });

  it('accepts a token signed with the JWKS key, from a file or a URL', async () => {
    const token = await keys.sign({ scope: 'customer:read:self' }, String(person.customerId));
    for (const server of [inline, remote]) {
      const { body } = await server.query(ME, {}, bearer(token));
      expect(body.data).toEqual({ me: { id: String(person.customerId), email: person.email } });
    }
  });

  it('refuses an HS256 token, even one keyed with the public key (algorithm confusion)', async () => {
    const publicKey = JSON.stringify(keys.jwks.keys[0]);
    for (const secret of [HS_SECRET, publicKey]) {
      const response = await inline.query(ME, {}, bearer(await selfToken({ sub: String(person.customerId), secret })));
      expectUnauthenticated(response, /not valid/);
    }
  });

  it('refuses alg none and a token from an unknown key', async () => {
    expectUnauthenticated(await inline.query(ME, {}, bearer(unsignedToken(claims()))), /not valid/);
    const stranger = await rsaKeys('test-key');
    expectUnauthenticated(await inline.query(ME, {}, bearer(await stranger.sign({}, String(person.customerId)))), /not valid/);
  });

  it('answers 503 with Retry-After, not 401, when the JWKS cannot be fetched', async () => {
    const down = await startTestServer(
      db,
      {},
      {
        security: testSecurity({ jwt: { issuer: ISSUER, audience: AUDIENCE, key: { jwksUrl: 'http://127.0.0.1:1/jwks.json' } } }),
      },
    );
    try {
      const response = await down.query(ME, {}, bearer(await keys.sign({}, String(person.customerId))));
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('5');
      expect(response.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    } finally {
      await down.close();
    }
  });
});

describe('in production', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(db, {}, { production: true, security: testSecurity() });
  });
  afterAll(async () => server?.close());

  it('refuses every GraphQL request without credentials, GET and POST', async () => {
    expectUnauthenticated(await server.query('{ __typename }'), /Authentication required/, false);
    const get = await send(server.url, { method: 'GET', headers: { accept: 'text/html' } });
    expect(get.status).toBe(401);
    const query = await send(server.url, { method: 'GET', headers: { 'apollo-require-preflight': 'true' } });
    expect(query.status).toBe(401);
  });

  it('keeps /healthz and /readyz open', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it('answers an authenticated caller', async () => {
    const { body } = await server.query(`{ customer(id: "${person.customerId}") { id } }`, {}, key('personalization'));
    expect(body.data).toEqual({ customer: { id: String(person.customerId) } });
  });

  it('hides field suggestions', async () => {
    const { status, body } = await server.query(`{ customer(id: "1") { emial } }`, {}, key('support'));
    // A validation error answered as application/json (fetch's Accept: */*): 200, per GraphQL over HTTP.
    expect(status).toBe(200);
    expect(body.errors?.[0]?.message).toBe('Cannot query field "emial" on type "Customer".');
  });

  it('serves no Sandbox page', async () => {
    const page = await send(server.url, { method: 'GET', headers: { accept: 'text/html', ...key('analyst') } });
    expect(page.text).not.toContain('EmbeddedSandbox');
  });
});

describe('the Sandbox page in production, where it is turned on', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(db, {}, { production: true, security: testSecurity({ explorer: 'sandbox' }) });
  });
  afterAll(async () => server?.close());

  it("is served without credentials (it is static) with a CSP that admits Apollo's CDN, while queries still need them", async () => {
    const page = await send(server.url, { method: 'GET', headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.text).toContain('embeddable-sandbox.cdn.apollographql.com');
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self' 'unsafe-inline' https://apollo-server-landing-page.cdn.apollographql.com https://embeddable-sandbox.cdn.apollographql.com");
    expect(csp).toContain('frame-src https://sandbox.embed.apollographql.com');
    expect(csp).toContain("frame-ancestors 'none'");
    expect((await server.query('{ __typename }')).status).toBe(401);
    expect((await server.query('{ __schema { queryType { name } } }', {}, key('personalization'))).status).toBe(403);
    expect((await server.query('{ __schema { queryType { name } } }', {}, key('analyst'))).status).toBe(200);
  });
});

describe('HTTP hardening', () => {
  let server: TestServer;
  let development: TestServer;
  beforeAll(async () => {
    server = await startTestServer(db, {}, { production: true, security: testSecurity({ corsOrigins: ['https://shop.example.com'] }) });
    development = await startTestServer(db);
  });
  afterAll(async () => Promise.all([server?.close(), development?.close()]));

  it('puts security headers on every response: API, refusals, health, unknown paths', async () => {
    const responses = [
      await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...key('analyst') }, body: '{"query":"{ __typename }"}' }),
      await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' }),
      await fetch(`${server.url}/healthz`),
      await fetch(`${server.url}/nothing-here`),
    ];
    expect(responses[0]!.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'");
    for (const response of responses) {
      // (Express's own 404 page replaces the policy with its own, as strict: `default-src 'none'`.)
      expect(response.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(response.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(response.headers.get('referrer-policy')).toBe('no-referrer');
      expect(response.headers.get('x-powered-by')).toBeNull();
    }
  });

  it('answers CORS preflights for configured origins only, never allowing credentials', async () => {
    const preflight = (origin: string) =>
      fetch(`${server.url}/graphql`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
      });
    const allowed = await preflight('https://shop.example.com');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://shop.example.com');
    expect(allowed.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    const refused = await preflight('https://evil.example');
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    // In production no origin is allowed unless configured, Apollo Studio included.
    const studio = await fetch(`${server.url}/graphql`, { method: 'OPTIONS', headers: { origin: 'https://studio.apollographql.com', 'access-control-request-method': 'POST' } });
    expect(studio.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("keeps Apollo's CSRF prevention on: a simple GET without a preflight header is refused", async () => {
    const response = await send(development.url, { method: 'GET', headers: { 'content-type': 'text/plain' } });
    expect(response.status).toBe(400);
    expect(response.text).toContain('CSRF');
  });

  it('answers a malformed or oversized body with GraphQL-shaped JSON and no stack trace', async () => {
    const malformed = await send(development.url, { body: '{"query": ' });
    expect(malformed.status).toBe(400);
    expect(malformed.json).toEqual({ errors: [{ message: 'Malformed request body.', extensions: { code: 'BAD_REQUEST' } }] });
    const huge = await send(development.url, { body: JSON.stringify({ query: '{ __typename }', variables: { x: 'a'.repeat(300_000) } }) });
    expect(huge.status).toBe(413);
    expect(huge.json.errors[0].extensions.code).toBe('BAD_REQUEST');
    for (const response of [malformed, huge]) expect(response.text).not.toMatch(/node_modules|at .*\.js|\/work\//);
  });

  it('serves the Sandbox outside production with a CSP that lets it load', async () => {
    const page = await send(development.url, { method: 'GET', headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain('https://embeddable-sandbox.cdn.apollographql.com');
  });
});
