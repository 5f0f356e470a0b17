import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { bearer, countingUpstreams, key, signedClaims, testSecurity, visitorToken } from './helpers.ts';

// A visitor token on the real server: bound to its browser as a customer token is to its customer.

const world: DemoWorld = { seed: 360, customers: 40, asOf: TEST_AS_OF };
const person = personAt(world, 4);
const BROWSER = 'test-browser.0001';
const OTHER = 'test-browser.0002';
let db: TestDatabase;
let server: TestServer;
/** A browser of the seeded warehouse that never signed in, allows analytics, and whose events carry a city. */
let located: string;
const upstreams = countingUpstreams();

beforeAll(async () => {
  db = await createDemoDatabase(world, { webHistoryDays: 7 });
  const { rows } = await db.pool.query(`
    SELECT anonymous_id FROM web.pages p
     WHERE NOT EXISTS (SELECT 1 FROM web.identifies i WHERE i.anonymous_id = p.anonymous_id)
     GROUP BY anonymous_id
    HAVING bool_and(context_geo_city IS NOT NULL) AND bool_and(coalesce(context_consent_category_preferences_c0002, true))
     ORDER BY anonymous_id LIMIT 1`);
  located = rows[0].anonymous_id;
  server = await startTestServer(db, upstreams, { security: testSecurity() });
});
afterAll(async () => {
  await server?.close();
  await db?.close();
});
beforeEach(() => {
  server.reset();
  upstreams.reset();
});

const own = (id: string) => `{ visitor(anonymousId: "${id}") { __typename identification { by } ... on AnonymousVisitor { anonymousId } } }`;

describe('a visitor token', () => {
  it("reads its own browser, as the browser's anonymous profile", async () => {
    const { status, body } = await server.query(own(BROWSER), {}, bearer(await visitorToken(BROWSER)));
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    expect(body.data).toEqual({ visitor: { __typename: 'AnonymousVisitor', identification: { by: 'TOKEN' }, anonymousId: BROWSER } });
  });

  it('gets the same FORBIDDEN for another browser as for one nobody knows, with no SQL', async () => {
    const token = await visitorToken(BROWSER);
    const a = await server.query(own(OTHER), {}, bearer(token));
    const b = await server.query(own('never-seen-anywhere'), {}, bearer(token));
    expect(a.body.data).toEqual({ visitor: null });
    expect(a.body.errors).toEqual([
      expect.objectContaining({ message: 'Forbidden: a visitor:read:self token reads only its own visitor.', path: ['visitor'], extensions: { code: 'FORBIDDEN' } }),
    ]);
    expect({ ...a.body, extensions: undefined }).toEqual({ ...b.body, extensions: undefined });
    expect(server.statements).toHaveLength(0);
  });

  it('reads nothing about customers: me, customer, customers and _entities are FORBIDDEN before any source is called', async () => {
    const { body } = await server.query(
      `{ me { id } customer(id: "${person.customerId}") { id } customers(ids: ["${person.customerId}"]) { id }
         _entities(representations: [{ __typename: "Customer", id: "${person.customerId}" }]) { ... on Customer { id } } }`,
      {},
      bearer(await visitorToken(BROWSER)),
    );
    expect(body.data).toEqual({ me: null, customer: null, customers: [null], _entities: [null] });
    expect(body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([
      [['me'], 'FORBIDDEN'],
      [['customer'], 'FORBIDDEN'],
      [['customers', 0], 'FORBIDDEN'],
      [['_entities', 0], 'FORBIDDEN'],
    ]);
    expect(server.statements).toHaveLength(0);
    expect(upstreams.calls()).toBe(0);
  });

  it('never reads a direct identifier: it reads the location a support tool reads, but for the city (FORBIDDEN)', async () => {
    const query = `{ visitor(anonymousId: "${located}") { ... on AnonymousVisitor { location { city country region timezone locale } } } }`;
    const support = (await server.query(query, {}, key('support'))).body;
    const { body } = await server.query(query, {}, bearer(await visitorToken(located)));
    const location = support.data.visitor.location;
    expect(body.data.visitor.location).toEqual(location && { ...location, city: null });
    expect(body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual(location ? [[['visitor', 'location', 'city'], 'FORBIDDEN']] : undefined);
  });

  it('reads no traits of its own browser (internal labels), and the rest of its profile answers', async () => {
    const query = `{ visitor(anonymousId: "${located}") { ... on AnonymousVisitor { anonymousId traits { affinities { days } } } } }`;
    const { body } = await server.query(query, {}, bearer(await visitorToken(located)));
    expect(body.data.visitor).toEqual({ anonymousId: located, traits: null });
    expect(body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[['visitor', 'traits'], 'FORBIDDEN']]);
  });

  it('is named in the audit line by its browser, never by its token', async () => {
    const token = await visitorToken(BROWSER);
    await server.query(own(BROWSER), {}, bearer(token));
    const line = server.logs.map((text) => JSON.parse(text)).find((entry) => entry.audit);
    expect(line.audit).toMatchObject({ kind: 'jwt', boundAnonymousId: BROWSER, fields: expect.arrayContaining(['Query.visitor']) });
    expect(server.logs.join('\n')).not.toContain(token.split('.')[1]);
  });
});

describe('a customer token', () => {
  it('carries the browser of its session to `me`, and still reads no visitor', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await signedClaims({ sub: String(person.customerId), scope: 'customer:read:self', anonymous_id: BROWSER, iat: now, exp: now + 600 });
    const { body } = await server.query(`{ me { id } ${own(BROWSER).slice(1, -1)} }`, {}, bearer(token));
    expect(body.data).toEqual({ me: { id: String(person.customerId) }, visitor: null });
    expect(body.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[['visitor'], 'FORBIDDEN']]);
  });

  it('and an API key with traits reads any browser', async () => {
    const { body } = await server.query(`{ visitor(anonymousId: "${OTHER}") { __typename } }`, {}, key('personalization'));
    expect(body.errors).toBeUndefined();
  });
});
