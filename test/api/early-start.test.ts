import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { setTimeout } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ENDPOINTS } from '../../sandbox/hubspot/index.ts';
import { plansBuilt } from '../../server/plan.ts';
import { MemoryStore } from '../../cache/store.ts';
import { bearer, selfToken, testSecurity } from '../auth/helpers.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

// A lookup by id starts the sources keyed by email as soon as the shop gives the email
// (resolvers/lookup.ts startByEmail), and concurrent requests' reads of one shop or warehouse
// family share statements once two are under way (cache/sets.ts DATABASE_COALESCE). A request of
// a document Apollo has validated before starts its root lookups in front of Apollo's pipeline
// (server/front.ts, resolvers/head-start.ts), in the loaders its resolvers then use: each source
// is still read once per request, and only for what the caller may read.
const world: DemoWorld = { seed: 362, customers: 60, asOf: TEST_AS_OF };
const people = Array.from({ length: world.customers }, (_, i) => personAt(world, i)).filter((person) => person.customerId && person.crm && person.emailMarketing);
let db: TestDatabase;
let standIns: StandIns;
let server: TestServer;
let bound: TestServer;

beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world), startStandIns(world)]);
  [server, bound] = await Promise.all([
    startTestServer(db, standIns.sources({ timeoutMs: 2000 })),
    startTestServer(db, standIns.sources({ timeoutMs: 2000 }), { security: testSecurity() }),
  ]);
});
afterAll(async () => {
  await Promise.all([server?.close(), bound?.close()]);
  await Promise.all([standIns?.close(), db?.close()]);
});
beforeEach(() => {
  standIns.hubspot.stats.reset();
  standIns.mailchimp.resetStats();
  server.reset();
  bound.reset();
});

const statementsLike = (target: TestServer, pattern: RegExp) => target.statements.filter((text) => pattern.test(text)).length;
const BY_ID = /FROM customers WHERE id = ANY/;
const BY_EMAIL = /FROM customers WHERE lower\(email\) = ANY/;
const PROFILE = 'id crm { id } emailMarketing { status } commerce { purchases { orderCount } }';

/** Sends `query` once so Apollo validates it (the front learns it), then clears the counts. */
async function teach(target: TestServer, query: string, variables: Record<string, unknown>, headers?: Record<string, string>) {
  const { body } = await target.query(query, variables, headers);
  expect(body.data).toBeDefined();
  standIns.hubspot.stats.reset();
  standIns.mailchimp.resetStats();
  target.reset();
}
const byIdStatements = () => statementsLike(server, BY_ID);

describe('a customer looked up by id', () => {
  it('reads each email-keyed source once, started early, and answers every field', async () => {
    const person = people[0]!;
    const { body } = await server.query(`{ customer(id: "${person.customerId}") { id crm { id } emailMarketing { status } identities { hubspotContactId } } }`);
    expect(body.errors).toBeUndefined();
    expect(body.data.customer).toMatchObject({ id: String(person.customerId), crm: { id: person.crm!.contactId }, identities: { hubspotContactId: person.crm!.contactId } });
    expect(body.data.customer.emailMarketing.status).toEqual(expect.any(String));
    expect(standIns.hubspot.stats.inputsPerCall(ENDPOINTS.contactsBatchRead)).toEqual([1]);
    expect(standIns.mailchimp.stats.requests).toBe(1);
  });

  it("has the Mailchimp read on the wire before the shop's statements for the customer's fields", async () => {
    // Timestamps would be noise on a shared machine: the statements and the request's send share one ordered log.
    const log = server.statements;
    const onSend = (message: unknown) => {
      const { request } = message as { request: ClientRequest };
      if (request.path.startsWith('/3.0/lists/')) request.once('finish', () => log.push('-- Mailchimp request sent'));
    };
    diagnostics.subscribe('http.client.request.start', onSend);
    try {
      // A first read opens a connection the next one finds open, as a busy server's reads do.
      await server.query(`{ customer(id: "${people[2]!.customerId}") { emailMarketing { status } } }`);
      server.reset();
      const { body } = await server.query(`{ customer(id: "${people[3]!.customerId}") { commerce { purchases { orderCount } } emailMarketing { status } } }`);
      expect(body.errors).toBeUndefined();
      const lookup = log.findIndex((text) => /FROM customers WHERE id = ANY/.test(text));
      const sent = log.indexOf('-- Mailchimp request sent');
      expect(lookup).toBe(0);
      expect(log.length).toBeGreaterThan(2);
      expect(sent).toBe(1);
    } finally {
      diagnostics.unsubscribe('http.client.request.start', onSend);
    }
  });

  it('starts no source for a field the token may not read', async () => {
    const person = people[1]!;
    const token = await selfToken({ sub: String(person.customerId) });
    const { body } = await bound.query(`{ me { id crm { id } emailMarketing { status } } }`, undefined, bearer(token));
    expect(body.data.me.id).toBe(String(person.customerId));
    expect(body.errors?.map((error) => [error.path?.join('.'), error.extensions?.code])).toEqual([['me.crm', 'FORBIDDEN']]);
    // customer:read:self may read emailMarketing, not crm: HubSpot is never asked.
    expect(standIns.hubspot.stats.total).toBe(0);
    expect(standIns.mailchimp.stats.requests).toBe(1);
  });
});

describe('a customer looked up by id, with the shared cache as deployed', () => {
  // A read looks in the cache first: a few promise jobs more before each source's request.
  let cached: TestServer;
  beforeAll(async () => {
    cached = await startTestServer(db, standIns.sources({ timeoutMs: 2000 }), { store: new MemoryStore({ maxEntries: 1000, maxBytes: 1 << 22 }) });
  });
  afterAll(() => cached?.close());

  it("has the Mailchimp read, the slowest, on the wire before HubSpot's request is made", async () => {
    const log: string[] = [];
    const onCreated = (message: unknown) => {
      const { request } = message as { request: ClientRequest };
      if (request.path.startsWith('/3.0/lists/')) request.once('finish', () => log.push('Mailchimp request sent'));
      if (request.path.startsWith('/crm/v3/')) log.push('HubSpot request made');
    };
    diagnostics.subscribe('http.client.request.created', onCreated);
    try {
      // A first read opens the connections the next one finds open, as a busy server's reads do.
      await cached.query(`{ customer(id: "${people[4]!.customerId}") { crm { id } emailMarketing { status } } }`);
      log.length = 0;
      const { body } = await cached.query(`{ customer(id: "${people[5]!.customerId}") { crm { id } emailMarketing { status } } }`);
      expect(body.errors).toBeUndefined();
      expect(log).toEqual(['Mailchimp request sent', 'HubSpot request made']);
    } finally {
      diagnostics.unsubscribe('http.client.request.created', onCreated);
    }
  });
});

describe('shop reads of concurrent requests', () => {
  it('share statements once two are under way, and every request gets its own customer', async () => {
    const many = Array.from({ length: 24 }, (_, i) => personAt(world, i)).filter((person) => person.customerId);
    // Hold the customers table, so the first statements wait and the other requests' keys gather.
    const lock = await db.pool.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE customers IN ACCESS EXCLUSIVE MODE');
      const answers = Promise.all(many.map((person) => server.query(`{ customer(id: "${person.customerId}") { id } }`)));
      for (let waited = 0; byIdStatements() < 2 && waited < 100; waited++) await setTimeout(20);
      // Time for the other requests to reach their lookup (a request that comes later only adds a
      // statement or two: the bound below leaves room for a slow machine).
      await setTimeout(1000);
      await lock.query('COMMIT');
      const done = await answers;
      expect(done.map(({ body }) => body.errors)).toEqual(many.map(() => undefined));
      expect(done.map(({ body }) => body.data.customer.id)).toEqual(many.map((person) => String(person.customerId)));
    } finally {
      lock.release();
    }
    // Two statements went first; the keys that came meanwhile left together (24 without coalescing).
    expect(byIdStatements()).toBeLessThanOrEqual(8);
  });
});

describe('root lookups started in front of Apollo', () => {
  it('by id: one identity statement, one read per source, every field answered, planned once', async () => {
    const query = `query ById($id: ID!) { customer(id: $id) { ${PROFILE} } }`;
    await teach(server, query, { id: String(people[0]!.customerId) });
    const before = plansBuilt('head start');
    for (const person of people.slice(1, 3)) {
      const { body } = await server.query(query, { id: String(person.customerId) });
      expect(body.errors).toBeUndefined();
      expect(body.data.customer).toMatchObject({ id: String(person.customerId), crm: { id: person.crm!.contactId } });
      expect(body.data.customer.emailMarketing.status).toEqual(expect.any(String));
    }
    expect(plansBuilt('head start') - before).toBe(1);
    expect(statementsLike(server, BY_ID)).toBe(2);
    expect(standIns.hubspot.stats.inputsPerCall(ENDPOINTS.contactsBatchRead)).toEqual([1, 1]);
    expect(standIns.mailchimp.stats.requests).toBe(2);
  });

  it("a page by ids: one identity statement and one HubSpot batch for the page's keys", async () => {
    const query = `query Page($ids: [ID!]) { customers(ids: $ids) { ${PROFILE} } }`;
    await teach(server, query, { ids: [String(people[3]!.customerId)] });
    const page = people.slice(4, 9);
    const { body } = await server.query(query, { ids: page.map((person) => String(person.customerId)) });
    expect(body.errors).toBeUndefined();
    expect(body.data.customers.map((customer: { id: string }) => customer.id)).toEqual(page.map((person) => String(person.customerId)));
    expect(statementsLike(server, BY_ID)).toBe(1);
    expect(standIns.hubspot.stats.inputsPerCall(ENDPOINTS.contactsBatchRead)).toEqual([page.length]);
    expect(standIns.mailchimp.stats.requests).toBe(page.length);
  });

  it('by email: one shop statement, one read per source', async () => {
    const query = `query ByEmail($email: EmailAddress!) { customer(email: $email) { ${PROFILE} } }`;
    await teach(server, query, { email: people[9]!.email });
    const person = people[10]!;
    const { body } = await server.query(query, { email: person.email.toUpperCase() });
    expect(body.errors).toBeUndefined();
    expect(body.data.customer.id).toBe(String(person.customerId));
    expect(statementsLike(server, BY_EMAIL)).toBe(1);
    expect(standIns.hubspot.stats.inputsPerCall(ENDPOINTS.contactsBatchRead)).toEqual([1]);
    expect(standIns.mailchimp.stats.requests).toBe(1);
  });

  it('starts nothing a bound token may not ask for, and its own `me` once', async () => {
    const person = people[11]!;
    const token = bearer(await selfToken({ sub: String(person.customerId) }));
    const other = `query Other($id: ID!) { customer(id: $id) { id emailMarketing { status } } }`;
    await teach(bound, other, { id: String(person.customerId) }, token);
    const refused = await bound.query(other, { id: String(people[12]!.customerId) }, token);
    expect(refused.body.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(bound.statements).toEqual([]);
    expect(standIns.mailchimp.stats.requests).toBe(0);

    const me = '{ me { id emailMarketing { status } } }';
    await teach(bound, me, {}, token);
    const { body } = await bound.query(me, {}, token);
    expect(body.errors).toBeUndefined();
    expect(body.data.me.id).toBe(String(person.customerId));
    expect(statementsLike(bound, BY_ID)).toBe(1);
    expect(standIns.mailchimp.stats.requests).toBe(1);
  });

  // On the PostgreSQL server only: embedded PGlite runs every connection's statements in its one
  // backend, and two different statements sent while a transaction holds it get their messages mixed.
  it.runIf(process.env.TEST_DATABASE_URL)("does not hold the operation's other root fields while the shop is slow", async () => {
    const query = `query Mixed($id: ID!) { customer(id: $id) { id } customerSegment(first: 1) { pageInfo { hasNextPage } } }`;
    await teach(server, query, { id: String(people[13]!.customerId) });
    // The shop's customers table held: the identity statement waits, and the segment's read is sent all the same.
    const lock = await db.pool.connect();
    try {
      await lock.query('BEGIN');
      await lock.query('LOCK TABLE customers IN ACCESS EXCLUSIVE MODE');
      const answer = server.query(query, { id: String(people[14]!.customerId) });
      const others = () => server.statements.filter((text) => !BY_ID.test(text)).length;
      for (let waited = 0; others() === 0 && waited < 250; waited++) await setTimeout(20);
      expect(statementsLike(server, BY_ID)).toBe(1);
      expect(others()).toBeGreaterThan(0);
      await lock.query('COMMIT');
      const { body } = await answer;
      expect(body.errors).toBeUndefined();
      expect(body.data).toEqual({ customer: { id: String(people[14]!.customerId) }, customerSegment: { pageInfo: { hasNextPage: true } } });
    } finally {
      lock.release();
    }
  });
});
