import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { setTimeout } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ENDPOINTS } from '../../sandbox/hubspot/index.ts';
import { MemoryStore } from '../../cache/store.ts';
import { bearer, selfToken, testSecurity } from '../auth/helpers.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

// A lookup by id starts the sources keyed by email as soon as the shop gives the email
// (resolvers/lookup.ts startByEmail), and concurrent requests' reads of one shop or warehouse
// family share statements once two are under way (cache/sets.ts DATABASE_COALESCE).
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
});

const byIdStatements = () => server.statements.filter((text) => /FROM customers WHERE id = ANY/.test(text)).length;

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
