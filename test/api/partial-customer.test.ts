import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fromSource, LifecycleStage } from '../../resolvers/enums.ts';
import { personAt, type DemoWorld } from '../../sandbox/demo/people.ts';
import { ordersOf } from '../../sandbox/demo/shop.ts';
import type { Queryable } from '../../sources/commerce/index.ts';
import { createDemoDatabase, TEST_AS_OF, type TestDatabase } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { startStandIns, type StandIns } from '../support/upstreams.ts';

// Partial answers that always hold: one system's failure nulls that system's fields only. The shop
// database and the warehouse share the test database, so the fault is made where the server meets
// it: each statement goes to the real database, or (shop down) to a port where nothing listens, or
// (warehouse slow) is held until the request's time budget has run out, then sent.

const world: DemoWorld = { seed: 360, customers: 120, asOf: TEST_AS_OF };
const BUDGET_MS = 3000;
const edge = { shop: 'up' as 'up' | 'down', warehouse: 'up' as 'up' | 'slow' };
/** The warehouse's statements name its schema (or read its catalog); the shop's never do. */
const isWarehouse = (text: string) => /"web"\.|\bweb\.|information_schema/.test(text);
/** Statements of the slow warehouse, sent once the test that held them is over. */
const held: Array<() => void> = [];

let db: TestDatabase;
let standIns: StandIns;
let server: TestServer;
let down: pg.Pool;

beforeAll(async () => {
  [db, standIns] = await Promise.all([createDemoDatabase(world, { webHistoryDays: 30 }), startStandIns(world)]);
  // Port 1 on loopback: nothing listens, so the driver gets a real ECONNREFUSED.
  down = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/shop', connectionTimeoutMillis: 2000 });
  const routed: Queryable = {
    query: (text, values) => {
      if (isWarehouse(text)) {
        if (edge.warehouse === 'up') return db.pool.query(text, values);
        return new Promise<void>((release) => held.push(release)).then(() => db.pool.query(text, values));
      }
      return (edge.shop === 'up' ? db.pool : down).query(text, values);
    },
  };
  server = await startTestServer({ pool: routed as pg.Pool }, standIns.sources({ timeoutMs: 2000 }), {
    budgetMs: BUDGET_MS,
    // Every test sees the fault itself, not a breaker that earlier tests opened.
    guard: { breakerFailures: 10_000 },
  });
});
afterAll(async () => {
  await server?.close();
  await Promise.all([standIns?.close(), db?.close(), down?.end()]);
});
beforeEach(() => {
  edge.shop = 'up';
  edge.warehouse = 'up';
});
afterEach(() => {
  for (const release of held.splice(0)) release();
});

const people = Array.from({ length: world.customers }, (_, i) => personAt(world, i));
const known = people.find((p) => p.customerId !== null && p.crm && p.emailMarketing)!;
const other = people.find((p) => p !== known && p.customerId !== null && p.crm && p.emailMarketing)!;
const subscriberHash = (email: string) => createHash('md5').update(email.toLowerCase()).digest('hex');
const crmOf = (p: typeof known) => ({ id: p.crm!.contactId, lifecycleStage: fromSource(LifecycleStage, p.crm!.lifecycleStage) });
const emailOf = (p: typeof known) => ({ status: p.emailMarketing!.status.toUpperCase(), memberRating: p.emailMarketing!.memberRating });

const shopError = (path: Array<string | number>, line: number, column: number) => ({
  message: 'The commerce source is unavailable.',
  locations: [{ line, column }],
  path,
  extensions: { code: 'SOURCE_UNAVAILABLE', source: 'commerce', retryable: true },
});
const byPath = (errors: Array<{ path?: Array<string | number> }> = []) => [...errors].sort((a, b) => (a.path ?? []).join('.').localeCompare((b.path ?? []).join('.')));

const CUSTOMER = `id email
    identities { commerceCustomerId email hubspotContactId mailchimpSubscriberHash analyticsUserId anonymousIds }
    commerce { purchases { orderCount } }
    crm { id lifecycleStage }
    emailMarketing { status memberRating }
    web { sessionCount }`;

describe('when the shop database is down', () => {
  beforeEach(() => {
    edge.shop = 'down';
  });

  it('returns commerce-less customer by email with crm and email fields, and web null with the shop error, when the shop database is down', async () => {
    const { body } = await server.query(
      `query($e: EmailAddress!) {
  customer(email: $e) {
    ${CUSTOMER}
  }
}`,
      { e: known.email.toUpperCase() },
    );
    expect({ ...body, errors: byPath(body.errors) }).toEqual({
      data: {
        customer: {
          id: null,
          email: known.email,
          identities: {
            commerceCustomerId: null,
            email: known.email,
            hubspotContactId: known.crm!.contactId,
            mailchimpSubscriberHash: subscriberHash(known.email),
            analyticsUserId: null,
            anonymousIds: null,
          },
          commerce: null,
          crm: crmOf(known),
          emailMarketing: emailOf(known),
          // The warehouse is read by the shop's customer id, which only the shop database gives.
          web: null,
        },
      },
      errors: [
        shopError(['customer', 'commerce'], 5, 5),
        shopError(['customer', 'id'], 3, 5),
        shopError(['customer', 'identities', 'analyticsUserId'], 4, 84),
        shopError(['customer', 'identities', 'anonymousIds'], 4, 100),
        shopError(['customer', 'identities', 'commerceCustomerId'], 4, 18),
        shopError(['customer', 'web'], 8, 5),
      ],
      extensions: { sources: expect.objectContaining({ commerce: expect.objectContaining({ status: 'failed' }) }) },
    });
  });

  it('answers customers(emails:) and _entities by email position by position, with the CRM and email fields', async () => {
    const { body } = await server.query(
      `query($e: [EmailAddress!], $r: [_Any!]!) {
  customers(emails: $e) { id email crm { id } emailMarketing { status } }
  _entities(representations: $r) { ... on Customer { id email crm { id } } }
}`,
      { e: [known.email, other.email], r: [{ __typename: 'Customer', email: other.email }] },
    );
    expect({ ...body, errors: byPath(body.errors) }).toEqual({
      data: {
        customers: [
          { id: null, email: known.email, crm: { id: known.crm!.contactId }, emailMarketing: { status: emailOf(known).status } },
          { id: null, email: other.email, crm: { id: other.crm!.contactId }, emailMarketing: { status: emailOf(other).status } },
        ],
        _entities: [{ id: null, email: other.email, crm: { id: other.crm!.contactId } }],
      },
      errors: [shopError(['_entities', 0, 'id'], 3, 54), shopError(['customers', 0, 'id'], 2, 27), shopError(['customers', 1, 'id'], 2, 27)],
      extensions: { sources: expect.any(Object) },
    });
  });

  it('returns null with the shop database’s error for a customer asked for by id, which no other system knows', async () => {
    const { body } = await server.query(`{ customer(id: "${known.customerId}") { id crm { id } } customers(ids: ["${other.customerId}"]) { id } }`);
    expect({ ...body, errors: byPath(body.errors) }).toEqual({
      data: { customer: null, customers: [null] },
      errors: [shopError(['customer'], 1, 3), shopError(['customers', 0], 1, 39)],
      extensions: { sources: expect.any(Object) },
    });
  });

  it('still returns null, not an error, for an email the shop database says it does not know', async () => {
    edge.shop = 'up';
    const { body } = await server.query('{ customer(email: "nobody.at.all@example.com") { id crm { id } } }');
    expect(body).toEqual({ data: { customer: null }, extensions: { sources: expect.any(Object) } });
  });
});

describe('when the warehouse times out', () => {
  it('web timeout does not null the customer', async () => {
    edge.warehouse = 'slow';
    const { body } = await server.query(`{
  customer(id: "${known.customerId}") {
    id
    identities { commerceCustomerId hubspotContactId anonymousIds }
    commerce { purchases { orderCount } }
    crm { id }
    emailMarketing { status }
    web { sessionCount }
  }
}`);
    const timeout = (path: string[], line: number, column: number) => ({
      message: 'The web source did not answer in time.',
      locations: [{ line, column }],
      path,
      extensions: { code: 'SOURCE_TIMEOUT', source: 'web', retryable: true },
    });
    expect({ ...body, errors: byPath(body.errors) }).toEqual({
      data: {
        customer: {
          id: String(known.customerId),
          identities: { commerceCustomerId: String(known.customerId), hubspotContactId: known.crm!.contactId, anonymousIds: null },
          commerce: { purchases: { orderCount: ordersOf(world, known).filter((o) => o.status === 'completed').length } },
          crm: { id: known.crm!.contactId },
          emailMarketing: { status: emailOf(known).status },
          web: null,
        },
      },
      errors: [timeout(['customer', 'identities', 'anonymousIds'], 4, 54), timeout(['customer', 'web'], 8, 5)],
      extensions: { sources: expect.objectContaining({ web: expect.objectContaining({ status: 'failed' }) }) },
    });
  });
});
